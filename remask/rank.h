/* rank.h — the one ranking rule of the remasking policies, and their parameter parsing.
 *
 * Every order-based policy (low_confidence, random, threshold, factor, topk_margin, entropy,
 * eb) ranks the eligible masked positions by a per-candidate key, highest first; NaN ranks
 * as -inf, ties go to the lower position (torch.topk's order is unspecified; this is the
 * documented rule). A key may depend on the step (random's seeded draw), so it sees the
 * state too. rm_rank is the only comparator in remask/.
 */
#ifndef LLADA_REMASK_RANK_H
#define LLADA_REMASK_RANK_H

#include "remask.h"

typedef struct {
    double key;
    int32_t pos;
    int idx; /* index into the candidate array */
} rm_ranked_t;

typedef double (*rm_key_fn)(const rm_cand_t *c, const rm_state_t *st);

/* The keys the built-in policies rank by. */
double rm_key_conf(const rm_cand_t *c, const rm_state_t *st);        /* confidence */
double rm_key_margin(const rm_cand_t *c, const rm_state_t *st);      /* top-1 minus top-2 */
double rm_key_neg_entropy(const rm_cand_t *c, const rm_state_t *st); /* lowest entropy first */

/* Rank cands[0..n) by key(c, st) descending. Returns a malloc'd array of n entries (caller
 * frees), or NULL with `e` set (EXIT_INTERNAL) on OOM. n must be > 0. */
rm_ranked_t *rm_rank(const rm_state_t *st, const rm_cand_t *cands, int n, rm_key_fn key, lerr_t *e);

/* The fixed-schedule selection shared by order policies: write the positions of the
 * min(st->n_commit, n) highest-ranked candidates to out[] and return their count, or -1
 * with `e` set. */
int rm_select_topk(const rm_state_t *st, const rm_cand_t *cands, int n, rm_key_fn key, int32_t *out, lerr_t *e);

/* Parse the PARAM of "name:PARAM" as a finite number in [lo, hi]; `def` when `param` is
 * NULL. -1 with `e` (EXIT_USAGE) on a bad value. */
int rm_param(const char *name, const char *param, double def, double lo, double hi, double *out, lerr_t *e);
/* For policies without a parameter: -1 with `e` (EXIT_USAGE) when `param` is given. */
int rm_no_param(const char *name, const char *param, lerr_t *e);

#endif
