/* bdsample.h — the reverse process of block-diffusion models (SDAR; cfg.attn_block > 0):
 * SDAR's block_diffusion_generate (bdsample.c), reached from sampler_run. */
#ifndef LLADA_DENOISE_BDSAMPLE_H
#define LLADA_DENOISE_BDSAMPLE_H
#include "sampler.h"
/* sampler_run's contract (sampler.h) for a block-diffusion model. No CFG, CPU only (EXIT_USAGE
 * otherwise). A batch runs its rows one after another, each unpadded with its own block
 * tiling and stop (tokens as `--batch 1`); on_step sees the whole batch after every step of
 * the row being generated, rows before it finished, rows after it still masked. nfe: the sum
 * over rows (row_nfe: each row's), steps_done: the most of any row. */
int bd_sampler_run(const model_t *m, rm_policy_t *pol, const sampler_opts_t *o, canvas_batch_t *cb,
                   void (*progress)(int step, int steps, void *arg), void *arg, lerr_t *e);
#endif
