/* text.h — the text of one choice while its tokens are being committed, for streaming.
 *
 * The sampler commits positions in any order inside a block; what is final is the prefix
 * before the first still-masked position. Each update decodes that prefix exactly as the
 * complete answer is decoded (detok_answer: cut at EOS/EOT, specials skipped), cuts it at
 * the first stop string, and releases the bytes that can no longer change: trailing U+FFFD
 * (an incomplete UTF-8 sequence whose next bytes are still masked) and a tail that could
 * still grow into a stop string are held back until the choice ends. So the concatenated
 * deltas equal the non-streamed text of the same run.
 */
#ifndef LLADA_SERVE_TEXT_H
#define LLADA_SERVE_TEXT_H
#include <stdbool.h>
#include "tok/bundle.h"
#include "request.h"

enum { FINISH_NONE, FINISH_STOP, FINISH_LENGTH };

typedef struct {
    tok_str_t text;   /* the answer so far (committed prefix, cut at a stop) */
    size_t sent;      /* bytes of text already released */
    size_t committed; /* committed tokens seen */
    size_t n_tokens;  /* completion tokens: committed tokens before the first EOS/EOT */
    int finish;       /* FINISH_*: set once the text can no longer change */
    bool diverged;    /* a later prefix decoded differently from released text (never
                            expected for byte-level or Metaspace decoders; counted) */
} stext_t;

/* Update with ids[0..k), the committed prefix; final: no more tokens will come (k is the
 * whole generation). Sets *delta, *dlen to the newly released bytes (inside t->text). Returns
 * 0, or -1 with `e` (out of memory). Once t->finish is set further calls release nothing. */
int stext_update(stext_t *t, const tok_bundle_t *b, const int32_t *ids, size_t k, bool final, const sstr_t *stop,
                 int n_stop, const char **delta, size_t *dlen, lerr_t *e);
void stext_free(stext_t *t);
#endif
