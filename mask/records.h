/* records.h — the record side of mask: reading token/pair records, building masked, canvas
 * and likelihood records with the input's unknown fields passed through.
 *
 * Pair forms accepted (docs/protocol.md, mask section), checked in this order:
 *   {"prompt": i4 [np], "tokens": i4 [na]}   (the shape of a denoise result)
 *   {"prompt": i4 [np], "answer": i4 [na]}
 *   {"tokens": i4 [n], "prompt_len": int}    (prompt = tokens[0..prompt_len))
 *   {"tokens": i4 [n]}                       (no prompt)
 */
#ifndef LLADA_MASK_RECORDS_H
#define LLADA_MASK_RECORDS_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include "record.h"

/* A prompt/answer pair borrowed from a record (pointers into its tensors). */
typedef struct {
    const int32_t *prompt, *answer;
    size_t np, na;
} pair_t;

/* memcpy of n tokens that accepts NULL pointers when n == 0 (empty tensors have no data). */
static inline void copy_i32(int32_t *dst, const int32_t *src, size_t n) {
    if (n) __builtin_memcpy(dst, src, n * sizeof *dst);
}

/* Read the pair of `r`; -1 with `e` set (EXIT_DATA) when no form fits. */
int pair_from_rec(const rec_t *r, pair_t *out, lerr_t *e);

/* Copy into `dst` every field of `src` except those the masked/canvas records replace or
 * consume (kind, v, tokens, prompt, answer, prompt_len, and the masked fields). 0 or -1 (OOM).
 * Linear in the number of fields when `dst` holds only consumed keys (as the builders leave
 * it); otherwise each copied field replaces an equal key in `dst` (a lookup per field). */
int rec_copy_user_fields(rec_t *dst, const rec_t *src, lerr_t *e);

/* Fill `out` (cleared first) as a "masked" record (fields in docs/protocol.md). `src` (may be
 * NULL) contributes its user fields. Negative mc / n_mc omit those fields. With `bitmap`,
 * "xt" is replaced by "mask" (u1, bit i = byte i/8, bit i%8, set where xt[i] == mask_id),
 * written after the user fields. "mask_id" is always written (readers rebuild xt from it). */
typedef struct {
    const int32_t *x0, *xt;
    size_t n, prompt_len, answer_len, n_masked;
    double t, p;
    int64_t group, mc, n_mc;
    int cropped; /* -1: omit */
    bool bitmap; /* --bitmap: "mask" instead of "xt" */
    int32_t mask_id;
} masked_t;
int masked_to_rec(rec_t *out, const masked_t *m, const rec_t *src, lerr_t *e);
/* bits[i/8] bit i%8 = (xt[i] == mask_id), for i < n; bits holds (n + 7) / 8 bytes. */
void mask_bitmap(const int32_t *xt, size_t n, int32_t mask_id, uint8_t *bits);

#endif
