/* bdsample.h — the reverse process of block-diffusion models (SDAR; cfg.attn_block > 0):
 * SDAR's block_diffusion_generate (bdsample.c), reached from sampler_run. */
#ifndef LLADA_DENOISE_BDSAMPLE_H
#define LLADA_DENOISE_BDSAMPLE_H
#include "sampler.h"
/* sampler_run's contract (sampler.h) for a block-diffusion model. Batch of one row, no CFG,
 * CPU only (EXIT_USAGE otherwise). */
int bd_sampler_run(const model_t *m, rm_policy_t *pol, const sampler_opts_t *o, canvas_batch_t *cb,
                   void (*progress)(int step, int steps, void *arg), void *arg, lerr_t *e);
#endif
