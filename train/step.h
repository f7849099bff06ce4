/* step.h — one training step's forward and backward through a LLaDA transformer on the CPU.
 *
 * The batch is B sequences of T tokens: input ids (xt for the diffusion objective, x0 for the
 * AR baseline), a target id and a loss weight per position. The loss is Σ w·CE(target); the
 * weights encode the objective (1/p, normalisations, which positions count: train/objective.h).
 * Only rows with w != 0 go through the LM head. Activations for the backward are kept in the
 * step object, sized once for (B, T).
 */
#ifndef LLADA_TRAIN_STEP_H
#define LLADA_TRAIN_STEP_H

#include "tparams.h"

typedef struct tstep tstep_t;

/* Workspace for batches of up to B×T tokens. threads: for attention / cross-entropy (the
 * BLAS has its own setting). NULL with e set on OOM. */
tstep_t *tstep_new(const llada_config_t *c, int B, int T, int threads, lerr_t *e);
void tstep_destroy(tstep_t **s);

/* Precision of the step's projections and LM head: TPREC_F32 (default: fp32 BLAS, exact as
 * always) or TPREC_BF16 (bf16 inputs, fp32 accumulation, on oneDNN; see step.c). Switching
 * back and forth is allowed (train evaluates in f32). -1 with e set: EXIT_USAGE when oneDNN
 * is unavailable ("--precision bf16 needs oneDNN: <why>"), EXIT_INTERNAL on OOM. */
enum { TPREC_F32, TPREC_BF16 };
int tstep_set_precision(tstep_t *s, int prec, lerr_t *e);

/* Forward (and, if G != NULL, backward accumulating into G's buffers) for B' ≤ B sequences of
 * length T' ≤ T: ids, tgt, w are [B'][T']. causal != 0: causal attention (AR baseline).
 * ce_out (may be NULL): per-position unweighted CE ([B'][T'], 0 where w == 0).
 * Returns Σ w·CE, or NAN with e set (a token id outside the vocabulary: EXIT_DATA). */
double tstep_run(tstep_t *s, const tview_t *P, const tview_t *G, const int32_t *ids, const int32_t *tgt, const float *w,
                 int B, int T, int causal, float *ce_out, lerr_t *e);

#endif
