/* pack.h — packs token documents into fixed-length pre-training sequences.
 *
 * Documents (token arrays) are concatenated, each followed by a separator token (EOS by
 * default; none if sep < 0; not added when the document already ends with it; empty
 * documents are skipped), and cut into
 * sequences of exactly `length` tokens; a document longer than the remaining space continues
 * in the next sequence. packer_finish emits the final partial sequence unless drop_last.
 * Sequences are delivered through a callback in order; the packing is deterministic, so every
 * shard of a data-prep job that reads the same input sees the same sequence numbering.
 */
#ifndef LLADA_MASK_PACK_H
#define LLADA_MASK_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lerr.h"

/* Receives one sequence (borrowed, valid during the call). Returns 0, or -1 with `e` set
 * to stop packing. */
typedef int (*pack_emit_fn)(void *ctx, const int32_t *seq, size_t n, lerr_t *e);

typedef struct packer packer_t;

/* New packer for sequences of `length` (≥ 1) tokens; sep < 0 disables the separator.
 * NULL with `e` set (EXIT_INTERNAL) on OOM. Owned by the caller; free with packer_destroy. */
packer_t *packer_new(size_t length, int32_t sep, bool drop_last, pack_emit_fn emit, void *ctx, lerr_t *e);
void packer_destroy(packer_t **p);

/* Add one document. Complete sequences are emitted before it returns. 0 or -1 (emit error). */
int packer_push(packer_t *p, const int32_t *tok, size_t n, lerr_t *e);
/* Emit the final partial sequence (if any and not drop_last). 0 or -1. */
int packer_finish(packer_t *p, lerr_t *e);
/* Sequences emitted so far. */
uint64_t packer_count(const packer_t *p);

#endif
