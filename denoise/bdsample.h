/* bdsample.h — the reverse process of block-diffusion models (SDAR; cfg.attn_block > 0):
 * SDAR's block_diffusion_generate (bdsample.c), reached from sampler_run. */
#ifndef LLADA_DENOISE_BDSAMPLE_H
#define LLADA_DENOISE_BDSAMPLE_H
#include "sampler.h"
/* sampler_run's contract (sampler.h) for a block-diffusion model. No CFG, CPU only (EXIT_USAGE
 * otherwise). The rows of a batch run in lockstep (bdsample.c): each unpadded, with its own
 * block tiling, step counter, draws and stop, so it gives the tokens, reveal steps and forward
 * count of its `--batch 1` run, while one forward per tick serves every unfinished row (the
 * projections, FFN and LM head over all their blocks' tokens at once). on_step sees the whole
 * batch after every tick (step = the tick, 0-based); rows may be at different blocks. nfe:
 * the sum over rows of each row's forwards (row_nfe: each row's); steps_done: the most steps
 * of any row. */
int bd_sampler_run(const model_t *m, rm_policy_t *pol, const sampler_opts_t *o, canvas_batch_t *cb,
                   void (*progress)(int step, int steps, void *arg), void *arg, lerr_t *e);
#endif
