/* ckpt.h — training checkpoints: an HF model folder that denoise loads directly
 * (config.json, model.safetensors via denoise's model_save, tokenizer.json and
 * tokenizer_config.json copied from the tokenizer folder) plus train_state.bin with what a
 * resume needs (step, tokens seen, AdamW moments, a checksum tying it to the weights).
 */
#ifndef LLADA_TRAIN_CKPT_H
#define LLADA_TRAIN_CKPT_H

#include <stdint.h>
#include "tparams.h"

typedef struct {
    int64_t step;   /* optimiser steps done */
    int64_t tokens; /* training tokens seen */
    double elapsed; /* seconds of training so far */
} tstate_t;

/* Write the folder `dir` (created if needed). Weights in `dtype` (f32 for exact resume).
 * m/v may be NULL (no train_state.bin: a release folder). tok_dir may be NULL. Every file is
 * written to a temporary name and renamed. EXIT_IO on failure. */
int ckpt_save(const char *dir, const llada_config_t *c, const float *params, const float *m, const float *v,
              const tstate_t *st, wtype_t dtype, const char *tok_dir, lerr_t *e);

/* Read dir/train_state.bin into m, v (n floats each) and *st, checking it belongs to the
 * weights `params` loaded from the same folder. Returns 0, 1 when the file does not exist,
 * -1 with e set (EXIT_DATA mismatch/corrupt, EXIT_IO). */
int ckpt_load_state(const char *dir, const float *params, size_t n, float *m, float *v, tstate_t *st, lerr_t *e);

/* Copy src_dir/name to dst_dir/name if the source exists (0), -1 on I/O error. */
int ckpt_copy_file(const char *src_dir, const char *dst_dir, const char *name, lerr_t *e);

#endif
