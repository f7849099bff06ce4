/* data.h — training data in memory: a token corpus (from "tokens" records, masked here on the
 * fly) or a list of "masked" records (from `mask`, noise already drawn).
 *
 * Token records are concatenated in order (optionally with an EOS after each record) into one
 * stream; batches are windows cut from it. Masked records keep their own x0/xt/p/prompt_len/
 * answer_len and are batched in input order, consecutive records of equal length together.
 */
#ifndef LLADA_TRAIN_DATA_H
#define LLADA_TRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>
#include "record.h"
#include "stream.h"

typedef struct {
    int32_t *x0, *xt; /* [len] each (owned) */
    int len, prompt_len, answer_len;
    double p;
} tmasked_t;

typedef struct {
    /* token corpus */
    int32_t *toks;
    size_t n_toks, cap_toks;
    /* masked records */
    tmasked_t *recs;
    size_t n_recs, cap_recs;
    size_t n_records; /* input records seen (both kinds) */
    int32_t mask_id;  /* set before reading: expands "mask" bitmaps (mask --bitmap) */
} tdata_t;

/* Read every record of `in` into d (zero-initialised by the caller). Records of kind "tokens"
 * (field "tokens": i4) extend the corpus, followed by `sep` when sep >= 0; records of kind
 * "masked" are stored (xt given, or rebuilt from a "mask" bitmap with d->mask_id). Mixing the two kinds, other kinds, or bad fields are EXIT_DATA errors
 * naming the record index. Returns 0 or -1 with e set. */
int tdata_read(tdata_t *d, rstream_t *in, int32_t sep, lerr_t *e);
/* Largest token id in the data (-1 if empty), for checking against the vocabulary. */
int32_t tdata_max_id(const tdata_t *d);
void tdata_free(tdata_t *d);

#endif
