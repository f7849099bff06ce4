/* remask.h — remasking policies: which masked positions to commit at a reverse step.
 *
 * denoise calls rm_policy_select() once per batch row per step. It never passes logits:
 * the model side reduces each masked position's distribution to a summary (rm_cand_t), and
 * the policy answers with the positions to commit. The same interface is later served over
 * a ZeroMQ socket by `remask` (records documented in docs/protocol.md).
 *
 * Every policy is a table of operations (rm_ops_t) plus a state, one file each
 * (low_confidence.c, random.c, threshold.c, factor.c, margin.c, entropy.c, eb.c; the remote
 * client in remote.c); registry.c is the one table of names, rank.c the one ranking rule
 * (key descending, ties to the lower position). Callers never test a policy's name: what
 * they need to know (adaptive or not) is an operation's property.
 *
 * Built-in policies (docs/remask.md):
 *   low_confidence  the n_commit candidates with the highest `conf` (LLaDA's default)
 *   random          the n_commit candidates with the highest seeded U(0,1) draw
 *                   (u = crng_u01(seed, CRNG_RANDOM_REMASK, record, step, pos), kernels/crng.h)
 *   threshold[:T] factor[:F] topk_margin entropy eb[:GAMMA]   see policies.h
 */
#ifndef LLADA_REMASK_H
#define LLADA_REMASK_H

#include <stdbool.h>
#include <stdint.h>
#include "lerr.h"

/* One masked position, as summarised by the model side. */
typedef struct {
    int32_t pos;   /* absolute canvas position (0-based, unpadded) */
    int32_t token; /* the token that would be committed (argmax, Gumbel-perturbed if T>0) */
    double conf;   /* confidence of `token` as the official sampler defines it: softmax
                         probability under the (possibly EOS/EOT-modified) logits */
    float prob;    /* plain softmax probability of `token` (unmodified logits after CFG) */
    float margin;  /* top-1 minus top-2 probability (unmodified) */
    float entropy; /* entropy of the distribution, nats (unmodified) */
} rm_cand_t;

/* Where the reverse process stands for this row. */
typedef struct {
    uint64_t seed;       /* sampler seed */
    int64_t record;      /* index of the record in the input stream (seeds per record) */
    int step;            /* global step index, 0-based */
    int steps;           /* total steps */
    int block, n_blocks; /* current block */
    int block_step;      /* step inside the block, 0-based */
    int steps_per_block;
    int block_start, block_end; /* canvas positions of the block: [start, end) */
    int prompt_len, canvas_len;
    int n_masked; /* masks left in the whole canvas (before this step) */
    int n_commit; /* quota from the linear schedule for this step */
} rm_state_t;

typedef struct rm_policy rm_policy_t;

/* Create a policy from "name" or "name:PARAM" (registry.c). NULL with `e` (EXIT_USAGE) when
 * the name is unknown or PARAM is bad for that policy. */
rm_policy_t *rm_policy_new(const char *name, lerr_t *e);
void rm_policy_destroy(rm_policy_t **p);
const char *rm_policy_name(const rm_policy_t *p);
/* Every policy name (for --help and `remask --list`), NULL-terminated. */
const char *const *rm_policy_list(void);

/* Choose positions to commit. cands[0..n) are the masked positions eligible at this step
 * (masked and before block_end), in ascending position order. Writes the chosen positions
 * to out[] (capacity n) in descending priority and returns their count (<= n; the built-in
 * policies return min(n_commit, n)), or -1 with `e` set. */
int rm_policy_select(rm_policy_t *p, const rm_state_t *st, const rm_cand_t *cands, int n, int32_t *out, lerr_t *e);

/* ---- a policy's operations: one file per policy (registry.c lists them) and the remote
 * client (remote.h). */
typedef struct {
    /* adaptive: commits a variable number of positions per step (possibly more than
     * n_commit, at least one while candidates remain); the sampler then loops each block
     * until it has no masks instead of following the fixed schedule. */
    bool adaptive;
    int (*select)(void *self, const rm_state_t *st, const rm_cand_t *cands, int n, int32_t *out, lerr_t *e);
    void (*destroy)(void *self); /* may be NULL */
} rm_ops_t;

/* Wrap ops + self into a policy named `name` (copied). Takes ownership of self, which is
 * destroyed with the policy (also when this fails). NULL on OOM. */
rm_policy_t *rm_policy_from_ops(const rm_ops_t *ops, void *self, const char *name, lerr_t *e);
/* True when the policy commits a variable number of positions per step (see rm_ops_t). */
bool rm_policy_adaptive(const rm_policy_t *p);

#endif
