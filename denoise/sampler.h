/* sampler.h — LLaDA's reverse process (the official generate.py, llada.md §1.1) over a batch
 * of canvases, with the remasking decision delegated to a remask policy.
 *
 * Canvas rows are left-padded to a common length L with the pad id (hidden from attention by
 * a key mask, as in the official batched generate). The region to generate is the last
 * gen_length positions of every row; it is split into gen_length / block_length blocks,
 * each given steps / n_blocks steps and a per-block linear schedule (remainder to the
 * earliest steps). Each step runs one forward over the batch (2B rows with CFG), reduces
 * every eligible masked position to a summary (rm_cand_t) and commits the positions the
 * policy returns. Randomness: kernels/crng.h keyed by (seed, record, step, unpadded
 * position[, token]).
 */
#ifndef LLADA_SAMPLER_H
#define LLADA_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>
#include "model.h"
#include "remask/remask.h"

typedef struct {
    int steps, gen_length, block_length;
    double temperature;        /* 0: argmax; > 0: Gumbel-max in float64 */
    double cfg_scale;          /* 0: off; else un + (s+1)(cond-un), un = prompt fully masked */
    bool logits_eos_inf;       /* EOS logit = -inf before choosing tokens */
    bool conf_eos_eot_inf;     /* official quirk: EOT (and at T=0 also EOS) column -inf in
                                  the confidence softmax only */
    bool fixed_eos;            /* fixed variants: logits_eos_inf also blocks EOT;
                                  conf_eos_eot_inf ranks EOS/EOT predictions last at any T
                                  without renormalising the others */
    uint64_t seed;
} sampler_opts_t;

typedef struct {
    int B, L;                  /* rows, padded canvas length */
    int32_t *x;                /* [B][L] canvas, updated in place (caller owns) */
    int *pad;                  /* [B] left padding of each row (caller owns) */
    int64_t *record;           /* [B] stream index of each row's record (caller owns) */
    int32_t *reveal;           /* [B][L] filled: step that committed a position, else -1 */
    int nfe;                   /* out: forward passes (rows of a CFG pair count twice) */
    int steps_done;            /* out */
} canvas_batch_t;

/* Check option consistency (divisibility as the official asserts); EXIT_USAGE. */
int sampler_check(const sampler_opts_t *o, lerr_t *e);
/* Run the whole reverse process. progress(step, steps, arg) is called after each step
 * when non-NULL. EXIT_DATA for bad tokens, EXIT_INTERNAL for OOM. */
int sampler_run(const model_t *m, rm_policy_t *pol, const sampler_opts_t *o, canvas_batch_t *cb,
                void (*progress)(int step, int steps, void *arg), void *arg, lerr_t *e);

/* Summarise one logits row (length V, already CFG-combined; modified in place by the EOS
 * flags) into a candidate: token, conf, prob, margin, entropy. `u_prefix` is the crng
 * prefix for Gumbel draws of this position (ignored at temperature 0). */
void sampler_summarise(const sampler_opts_t *o, const llada_config_t *c, float *logits, int V,
                       uint64_t u_prefix, rm_cand_t *out);

#endif
