/* text.c — answer text of generated ids (see text.h). */
#include "text.h"

size_t detok_stop_len(const tok_bundle_t *b, const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (tok_bundle_is_stop(b, ids[i])) return i;
    return n;
}

int detok_answer(const tok_bundle_t *b, const int32_t *ids, size_t n, tok_str_t *out, lerr_t *e) {
    return tok_decode(b->tok, ids, detok_stop_len(b, ids, n), TOK_SKIP_SPECIAL, out, e);
}
