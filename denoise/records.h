/* records.h — denoise's record handling: token/canvas records -> padded canvas batches and
 * back into generation results; masked records -> cross-entropy scores; raw logits. Record
 * fields: docs/protocol.md (denoise section). */
#ifndef LLADA_DENOISE_RECORDS_H
#define LLADA_DENOISE_RECORDS_H

#include "record.h"
#include "model/model.h"
#include "sampler.h"

/* Prompt and generation length of a "tokens" record (gen = gen_length option) or a
 * "canvas" record (gen = len - prompt_len). Borrowed pointer to the record's tokens. */
typedef struct {
    const int32_t *tok;
    int n;          /* tokens in the record */
    int prompt_len; /* tokens before the generated region */
    int gen;        /* length of the generated region */
    bool canvas;    /* the record already holds the canvas */
} rec_canvas_t;

int rec_canvas_parse(const rec_t *r, const model_t *m, int gen_length, rec_canvas_t *out, lerr_t *e);

/* Build a left-padded batch from n parsed records (all with the same gen). Allocates
 * cb->x, pad, record, reveal (free with canvas_batch_free). */
int canvas_batch_build(canvas_batch_t *cb, const rec_canvas_t *rc, const int64_t *rec_idx, int n, const model_t *m,
                       lerr_t *e);
void canvas_batch_free(canvas_batch_t *cb);
/* Write row j's result into record r: prompt, tokens, reveal_step, nfe (kind "tokens"). */
int canvas_batch_result(const canvas_batch_t *cb, int j, const rec_canvas_t *rc, rec_t *r, lerr_t *e);

/* --score: for n masked records of equal length, add "ce" (sum over xt == mask of
 * -log softmax(logits)[x0], natural log) and "n_masked". cfg_scale > 0: the unconditional
 * pass masks positions < prompt_len. */
int score_records(const model_t *m, rec_t **recs, int n, double cfg_scale, lerr_t *e);

/* --logits: add "logits": f4 [L][embedding_size] of the record's tokens as a canvas. */
int logits_record(const model_t *m, rec_t *r, lerr_t *e);

#endif
