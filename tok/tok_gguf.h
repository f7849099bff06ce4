/* tok_gguf.h — the tokenizer.json a GGUF file's tokenizer metadata describes (gguf_tok.c). */
#ifndef TOK_GGUF_H
#define TOK_GGUF_H
#include <stddef.h>
#include <stdint.h>
#include "lerr.h"

struct gguf_file;
typedef struct {
    int32_t bos, eos, eot, mask;
} tok_gguf_ids_t; /* -1: absent */

/* tokenizer.json text (malloc'd, NUL-terminated; *len its length) rebuilt from f's
 * tokenizer.ggml.* keys, and the special ids it names. NULL with `e` (EXIT_DATA) when the file
 * has no tokenizer, another model than byte-level BPE ("gpt2"), an unknown pre-tokenizer name,
 * or arrays that do not fit together. */
char *tok_gguf_json(const struct gguf_file *f, size_t *len, tok_gguf_ids_t *ids, lerr_t *e);
#endif
