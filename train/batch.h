/* batch.h — the objectives: turning training data into (ids, targets, loss weights) batches.
 *
 * Diffusion (LLaDA, llada.md §1.6): ids = xt, targets = x0, weight of a masked position
 *   1/(p · answer_len · B): pre-training (prompt_len 0, answer_len = length) gives the seed's
 *   Σ_masked CE/p / (B·L); SFT gives Σ (CE/p)/answer_len / B. Prompt positions never count.
 * AR baseline (causal attention): ids = x0[0..L-1), targets = x0[1..L), weight 1/(answer
 *   positions · B) on targets in the answer, i.e. the mean next-token CE.
 * Token corpora: row r of step s is a window of the corpus at an offset drawn from
 * (seed, unit = s·B + r), masked with mask/'s noise_pretrain keyed the same way, so a step's
 * batch depends only on (seed, step): resuming reproduces the uninterrupted run. A fraction
 * noise.crop_frac of batches (LLaDA: 1%) use windows of a random length U{2..T} instead
 * (mask's noise_crop keyed by the step), so the model also sees short sequences.
 */
#ifndef LLADA_TRAIN_BATCH_H
#define LLADA_TRAIN_BATCH_H

#include "data.h"
#include "noise.h"

enum { OBJ_DIFFUSION = 0, OBJ_AR = 1 };

typedef struct {
    int objective;
    int B, T;          /* rows per batch; window length for token corpora */
    noise_cfg_t noise; /* seed, eps, mask id, crop_frac (per batch, see above) */
} tbatch_cfg_t;

typedef struct {
    int32_t *ids, *tgt;
    float *w;
    int B, T;   /* shape of this batch (≤ the allocated B×T) */
    int n_loss; /* positions with w != 0 */
    size_t cap;
} tbatch_t;

/* Batches of masked records: consecutive records of equal length, at most B per batch. */
typedef struct {
    size_t *start;
    int *count;
    size_t n;
} tplan_t;
int tplan_make(tplan_t *p, const tdata_t *d, int B, lerr_t *e);
void tplan_free(tplan_t *p);

/* Allocate for up to cap positions. */
int tbatch_alloc(tbatch_t *b, size_t cap, lerr_t *e);
void tbatch_free(tbatch_t *b);

/* The batch of step `step` (0-based). plan: NULL for a token corpus. EXIT_DATA if the corpus
 * is shorter than one window. */
int tbatch_make(const tbatch_cfg_t *c, const tdata_t *d, const tplan_t *plan, int64_t step, tbatch_t *b, lerr_t *e);

/* Longest sequence a batch of this data can have (T for corpora, max record length). */
int tbatch_max_len(const tbatch_cfg_t *c, const tdata_t *d);

#endif
