/* sampler.h — LLaDA's reverse process (the official generate.py, llada.md §1.1) over a batch
 * of canvases, with the remasking decision delegated to a remask policy.
 *
 * Canvas rows are left-padded to a common length L with the pad id (hidden from attention by
 * a key mask, as in the official batched generate). The region to generate is the last
 * gen_length positions of every row; it is split into gen_length / block_length blocks,
 * each given steps / n_blocks steps and a per-block linear schedule (remainder to the
 * earliest steps), or Dream's timestep schedule (remask/schedule.h) for models whose official
 * sampler uses it. A shifted-logits model (Dream) summarises position p from hidden row
 * p-1 (model_logits_row). Each step runs one forward over the batch (2B rows with CFG), reduces
 * every eligible masked position to a summary (rm_cand_t) and commits the positions the
 * policy returns. Randomness: kernels/crng.h keyed by (seed, record, step, unpadded
 * position[, token]).
 */
#ifndef LLADA_SAMPLER_H
#define LLADA_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>
#include "model/model.h"
#include "remask/remask.h"

struct sampler_opts;

/* KV-cache modes (denoise --cache; Fast-dLLM's approximate block cache, docs/denoise.md). */
enum { SAMPLER_CACHE_NONE, SAMPLER_CACHE_PREFIX, SAMPLER_CACHE_DUAL };
/* Per-step commit counts: the model's official rule (its config's `schedule`: LLaDA linear,
 * Dream timestep), or one forced by the user (denoise --schedule). */
typedef enum {
    SAMPLER_SCHED_MODEL = 0,
    SAMPLER_SCHED_LINEAR = 1,
    SAMPLER_SCHED_TIMESTEP = 2,
} sampler_schedule_t;

/* Optional model backend for the reverse steps (the CUDA one: denoise/backend_cuda.h,
 * cuda_sampler_step). step() gets the forward batch tokens [nB][L] (nB = B, or 2B with CFG,
 * built as the CPU path builds it) and keep [nB][L] (NULL = no padding), and the nc
 * candidates (row crow[i] < B, canvas index cpos[i], Gumbel prefix prefix[i]); it writes
 * out[i] exactly as forward + LM head + CFG + sampler_summarise would, leaving out[i].pos.
 * 0 or -1 with e set. */
typedef struct sampler_backend {
    int (*step)(void *ctx, const struct sampler_opts *o, const int32_t *tok, const uint8_t *keep, int nB, int B, int L,
                const int *crow, const int *cpos, const uint64_t *prefix, int nc, rm_cand_t *out, lerr_t *e);
    void *ctx;
    /* Optional (NULL: --cache needs the CPU): the step of a KV-cache run. r0 == 0 && r1 == L:
     * the whole canvas, keeping every layer's K/V; otherwise only positions [r0, r1) of every
     * row are recomputed against the K/V of the last whole step (same nB x L), the other
     * positions keeping that step's hidden states; the same summaries as step otherwise
     * (model.h model_forward_cached is the CPU's). */
    int (*step_rows)(void *ctx, const struct sampler_opts *o, const int32_t *tok, const uint8_t *keep, int nB, int B,
                     int L, int r0, int r1, const int *crow, const int *cpos, const uint64_t *prefix, int nc,
                     rm_cand_t *out, lerr_t *e);
} sampler_backend_t;

typedef struct sampler_opts {
    int steps, gen_length, block_length;
    double temperature;    /* 0: argmax; > 0: Gumbel-max in float64 */
    double cfg_scale;      /* 0: off; else un + (s+1)(cond-un), un = prompt fully masked */
    bool logits_eos_inf;   /* EOS logit = -inf before choosing tokens */
    bool conf_eos_eot_inf; /* official quirk: EOT (and at T=0 also EOS) column -inf in
                                  the confidence softmax only */
    bool fixed_eos;        /* fixed variants: logits_eos_inf also blocks EOT;
                                  conf_eos_eot_inf ranks EOS/EOT predictions last at any T
                                  without renormalising the others */
    int schedule;          /* sampler_schedule_t: masks committed per step */
    double schedule_eps;   /* timestep schedule's final t; 0: the model's (Dream: 1e-3) */
    /* Dream's diffusion_generate filters (generation_utils.py; 0 = off): top_p keeps the
     * smallest set of most probable tokens whose probability exceeds top_p (the first always),
     * then top_k the k largest logits (ties at the k-th kept); on the logits divided by the
     * temperature when > 0; applied before the token, confidence, margin and entropy are
     * taken, at every temperature as Dream does. alg_temp > 0: the positions a rank policy
     * commits are drawn without replacement from softmax(key / alg_temp) (Gumbel-top-k with
     * the counter RNG, stream CRNG_ALG_TEMP) instead of the top keys. CPU only. */
    double top_p;
    int top_k;
    double alg_temp;
    /* LLaDA 2.1's token editing (block-diffusion models; denoise/bdsample.c): with edit on, a
     * block's iterations each commit masks by the policy with quota 1 (generate()'s
     * num_to_transfer) and rewrite the block's generated tokens whose argmax differs and has
     * probability > edit_threshold; the block ends when an iteration that started with no
     * masks edits nothing, or after max_post_steps such iterations. */
    bool edit;
    double edit_threshold;
    int max_post_steps;
    bool eos_early_stop;  /* block-diffusion models: LLaDA 2.0 generate()'s eos_early_stop
                                  (bdsample.c): return as soon as a step commits EOS and no
                                  mask lies between the prompt and the canvas' first EOS */
    bool block_cache_off; /* block-diffusion models: recompute the whole canvas every
                                  step instead of the exact block cache (bench, tests) */
    uint64_t seed;
    /* KV cache (0 = none: every step runs the whole canvas, exactly the official sampler).
     * prefix: a block's first step runs the whole canvas and keeps every layer's K/V; its
     * other steps recompute only positions from the block start to the canvas end, against
     * the cached K/V of the positions before. dual: the other steps recompute only the
     * block, against the cached K/V of the prefix and of the suffix after the block.
     * cache_refresh N > 0: also a whole-canvas step at block steps N, 2N, ... Positions not
     * recomputed keep the hidden states of the last whole-canvas step. */
    int cache, cache_refresh;
    const sampler_backend_t *backend; /* NULL: CPU forward, head and summaries */
} sampler_opts_t;

typedef struct canvas_batch {
    int B, L;        /* rows, padded canvas length */
    int32_t *x;      /* [B][L] canvas, updated in place (caller owns) */
    int *pad;        /* [B] left padding of each row (caller owns) */
    int64_t *record; /* [B] stream index of each row's record (caller owns) */
    int32_t *reveal; /* [B][L] filled: step that committed a position, else -1 */
    int nfe;         /* out: forward passes (rows of a CFG pair count twice) */
    int *row_nfe;    /* optional [B] out (caller owns): each row's forward passes
                                * (cb->nfe for every row, except block diffusion, whose
                                * rows each count their own; bdsample.h) */
    int steps_done;  /* out */
    /* Optional (zero = off). seed: [B] per-row seed replacing o->seed in every draw of that
     * row (caller owns), so rows of requests with different seeds share a batch. on_step:
     * called after every step with the canvas updated; it may set drop[j] = 1 (drop[0..B)
     * is zeroed scratch) for rows to leave the batch (a cancelled request, an answer already
     * complete). Those rows are removed, keeping the others' order: x, reveal, pad, record
     * and seed are compacted in place and B shrinks (0: the run ends); other rows' results
     * do not change. A negative return aborts the run with that return's `e`. */
    uint64_t *seed;
    int (*on_step)(struct canvas_batch *cb, int step, uint8_t *drop, void *arg, lerr_t *e);
    void *on_step_arg;
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
void sampler_summarise(const sampler_opts_t *o, const llada_config_t *c, float *logits, int V, uint64_t u_prefix,
                       rm_cand_t *out);
/* 0 when every summary of c[0..n) is whole; -1 (EXIT_INTERNAL) when sampler_summarise ran out
 * of memory for a row's top-p / top-k filter (it then leaves token -1). */
int sampler_cands_ok(const rm_cand_t *c, int n, lerr_t *e);

#endif
