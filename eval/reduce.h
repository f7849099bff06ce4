/* reduce.h — reducers over scored likelihood samples and multiple-choice questions.
 *
 * reducer: `denoise --score` records ({"kind":"masked", "group", "n_mc", "p", "ce", ...}) →
 * one {"kind":"likelihood"} record per group with bound = −mean(ce / p) (nats; the Monte-Carlo
 * estimate of Algorithm 3 / get_log_likelihood.py) and its standard error. Samples of a group
 * may arrive in any order and interleaved with other groups; a group is emitted when its n_mc
 * samples have arrived.
 *
 * chooser: likelihood records carrying "question", "choice" and "answer" (ints) → one
 * {"kind":"choice"} record per question (consecutive records with the same "question"): the
 * choice with the highest bound is the prediction. Counts correct answers for the accuracy.
 */
#ifndef LLADA_MASK_REDUCE_H
#define LLADA_MASK_REDUCE_H

#include <stdint.h>
#include "record.h"

typedef struct reducer reducer_t;

reducer_t *reducer_new(lerr_t *e);
void reducer_destroy(reducer_t **rd);
/* Add one scored sample (borrowed). When it completes its group, *done receives a new
 * likelihood record (caller owns), else NULL. -1 with `e` set (EXIT_DATA) on a bad sample. */
int reducer_add(reducer_t *rd, const rec_t *r, rec_t **done, lerr_t *e);
/* -1 with `e` set (EXIT_DATA) if any group is still incomplete. */
int reducer_finish(reducer_t *rd, lerr_t *e);

typedef struct chooser chooser_t;

chooser_t *chooser_new(lerr_t *e);
void chooser_destroy(chooser_t **c);
/* Add one likelihood record; when it starts a new question, *done receives the previous
 * question's choice record (caller owns), else NULL. -1 with `e` set on a bad record. */
int chooser_add(chooser_t *c, const rec_t *r, rec_t **done, lerr_t *e);
/* Flush the last question into *done (NULL if none). */
int chooser_finish(chooser_t *c, rec_t **done, lerr_t *e);
/* Questions seen and answered correctly so far (flushed questions only). */
void chooser_score(const chooser_t *c, uint64_t *questions, uint64_t *correct);

#endif
