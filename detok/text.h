/* text.h — the answer text of generated token ids as detok prints it: cut at the first stop
 * id (EOS / EOT / <|im_end|>, tok_bundle_t.stop) and decoded with HF semantics, special tokens
 * skipped. Shared by detok and serve so both give the same text for the same ids. */
#ifndef LLADA_DETOK_TEXT_H
#define LLADA_DETOK_TEXT_H
#include "tok/bundle.h"

/* Index of the first stop id in ids[0..n), or n. */
size_t detok_stop_len(const tok_bundle_t *b, const int32_t *ids, size_t n);
/* Append the answer text of ids[0..n) to *out: cut at the first stop id, specials skipped.
 * 0, or -1 with `e` (out of memory). */
int detok_answer(const tok_bundle_t *b, const int32_t *ids, size_t n, tok_str_t *out, lerr_t *e);
#endif
