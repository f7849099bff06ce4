/* tokenizer.h — Hugging Face tokenizer.json (BPE family) in C: load, encode, decode.
 *
 * Produces exactly the ids of HF `tokenizers` (tested against the npm binding) for byte-level
 * BPE files (GPT-2, Llama 3, Qwen2/3, LLaDA) and SentencePiece-style BPE files (Llama 2 /
 * Mistral: Metaspace or Prepend/Replace normalizers, byte_fallback). Anything the loader does not
 * implement is refused with an error naming its JSON path, never tokenized differently.
 * Docs: docs/tokenizer.md.
 */
#ifndef TOK_TOKENIZER_H
#define TOK_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "lerr.h"

typedef struct tokenizer tokenizer_t;

/* Growable id vector; owner frees v. */
typedef struct {
    int32_t *v;
    size_t n, cap;
} tok_ids_t;
int tok_ids_push(tok_ids_t *a, int32_t id); /* 0 ok, -1 OOM */
void tok_ids_free(tok_ids_t *a);

/* Growable byte string; owner frees p. p is NUL-terminated when n > 0 after tok_decode. */
typedef struct {
    char *p;
    size_t n, cap;
} tok_str_t;
int tok_str_append(tok_str_t *s, const void *p, size_t n);
int tok_str_reserve(tok_str_t *s, size_t extra); /* room for extra bytes + NUL; 0 or -1 OOM */
void tok_str_free(tok_str_t *s);

/* Load tokenizer.json from a path or a memory buffer. NULL with `e` set (EXIT_IO for a missing
 * file, EXIT_DATA for malformed/unsupported content; the message names the JSON path).
 * tok_load_file keeps the tables of files of 1 MB or more in a binary cache and maps them on
 * later loads ($LLADA_TOK_CACHE, else $XDG_CACHE_HOME/llada-tools, else ~/.cache/llada-tools;
 * LLADA_TOK_CACHE=off disables it; docs/tokenizer.md "Binary cache").
 * The caller owns the result; tok_destroy frees it and NULLs *t. */
tokenizer_t *tok_load_file(const char *path, lerr_t *e);
tokenizer_t *tok_load_json(const char *json, size_t len, lerr_t *e);
void tok_destroy(tokenizer_t **t);

enum {
    TOK_ADD_SPECIAL = 1,     /* run the post-processor (HF add_special_tokens=True) */
    TOK_SPECIAL_AS_TEXT = 2, /* special added tokens in the text are plain text (HF encode_special_tokens) */
};
/* Encode UTF-8 text (invalid sequences are first replaced by U+FFFD, as a JS/Python caller's
 * string would be), appending ids to *out. 0, or -1 with `e` set. Not thread-safe per
 * tokenizer (it owns a piece cache). */
int tok_encode(tokenizer_t *t, const char *text, size_t len, unsigned flags, tok_ids_t *out, lerr_t *e);

enum { TOK_SKIP_SPECIAL = 1 };
/* Decode ids to UTF-8 text appended to *out (HF decode; unknown ids are dropped as HF does).
 * The first call builds the tokenizer's decode table. 0, or -1 with `e` set (OOM). Not
 * thread-safe per tokenizer either (decoder chains other than ByteLevel keep their buffers in it). */
int tok_decode(tokenizer_t *t, const int32_t *ids, size_t n, unsigned flags, tok_str_t *out, lerr_t *e);

/* Id of a token string (added tokens first, then the model vocabulary); -1 if none. */
int32_t tok_token_id(const tokenizer_t *t, const char *s, size_t len);
/* String of an id (borrowed), NULL if the id has none. */
const char *tok_id_token(const tokenizer_t *t, int32_t id, size_t *len);
bool tok_is_special(const tokenizer_t *t, int32_t id);
bool tok_is_added(const tokenizer_t *t, int32_t id);
/* 1 + the highest id that has a string. */
int32_t tok_n_ids(const tokenizer_t *t);

#endif
