/* choices.h — multiple-choice questions to scoring pairs (how lm-eval scores choices).
 *
 * A question record {"context": str, "choices": [str, ...], "answer": int} becomes, for each
 * choice j, two text records for `tok`: the context and the context + continuation, both with
 * "question", "choice", "answer" and "part" ("context" / "whole"). As lm-eval's _encode_pair,
 * trailing whitespace of the context moves to the front of the continuation, and the answer
 * tokens are whole[len(context tokens):] (pair_join), so the split is the tokenizer's own.
 * A record {"prompt": str, "answer": str} is one pair (choice 0, answer 0).
 */
#ifndef LLADA_MASK_CHOICES_H
#define LLADA_MASK_CHOICES_H

#include <stdint.h>
#include "record.h"

/* Receives one new record (ownership passes to the callee). 0 or -1 with `e` set. */
typedef int (*choice_emit_fn)(void *ctx, rec_t *r, lerr_t *e);

/* Expand question `q` (borrowed record) into 2 × n_choices text records. -1 with `e` set
 * (EXIT_DATA) when a field is missing or malformed. */
int choices_expand(const rec_t *in, uint64_t q, choice_emit_fn emit, void *ctx, lerr_t *e);

/* Join a context token record and a whole (context + continuation) token record into a pair
 * record {"prompt": ctx tokens, "tokens": whole[len(ctx):], ...whole's other fields}.
 * Returns a new record (caller owns) or NULL with `e` set. */
rec_t *pair_join(const rec_t *ctx, const rec_t *whole, lerr_t *e);

#endif
