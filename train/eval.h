/* eval.h — held-out likelihood of a token corpus under the model being trained.
 *
 * The corpus is cut into non-overlapping windows of T tokens (the tail is dropped).
 * Diffusion: the LLaDA ELBO bound of each window (get_log_likelihood.py, llada.md §1.2):
 *   n_mc samples, stratified mask counts l_i (mask/'s ll_counts, keyed by window), exactly l_i
 *   of T tokens masked, bound = mean_i Σ_masked CE · T/l_i  — an upper bound on −log p.
 * AR: exact next-token NLL of tokens 1..T-1 of each window given the preceding ones.
 */
#ifndef LLADA_TRAIN_EVAL_H
#define LLADA_TRAIN_EVAL_H

#include "batch.h"
#include "step.h"

typedef struct {
    double nats;   /* Σ over windows of the bound / NLL (natural log) */
    double tokens; /* tokens it covers (T per window; T-1 for AR) */
    int windows;
} teval_t;

/* Evaluate on at most max_windows windows (<= 0: all). `s` must hold c->B × c->T. */
int eval_corpus(const tbatch_cfg_t *c, const tdata_t *d, tstep_t *s, const tview_t *P, int n_mc, int max_windows,
                teval_t *out, lerr_t *e);

#endif
