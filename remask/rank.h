/* rank.h — shared ranking step of the remasking policies: sort candidates by a key.
 *
 * Every order-based policy (low_confidence's relatives: threshold, factor, topk_margin,
 * entropy, eb) ranks the eligible masked positions by a per-candidate key, highest first;
 * NaN ranks as -inf, ties go to the lower position (the rule policy.c documents).
 */
#ifndef LLADA_REMASK_RANK_H
#define LLADA_REMASK_RANK_H

#include "remask.h"

typedef struct {
    double key;
    int32_t pos;
    int idx;   /* index into the candidate array */
} rm_ranked_t;

/* Rank cands[0..n) by key(c) descending. Returns a malloc'd array of n entries (caller
 * frees), or NULL with `e` set (EXIT_INTERNAL) on OOM. n must be > 0. */
rm_ranked_t *rm_rank(const rm_cand_t *cands, int n, double (*key)(const rm_cand_t *), lerr_t *e);

/* The fixed-schedule selection shared by order policies: write the positions of the
 * min(st->n_commit, n) highest-ranked candidates to out[] and return their count, or -1
 * with `e` set. */
int rm_select_topk(const rm_state_t *st, const rm_cand_t *cands, int n, double (*key)(const rm_cand_t *),
                   int32_t *out, lerr_t *e);

/* Parse the PARAM of "name:PARAM" as a finite number in [lo, hi]; `def` when `param` is
 * NULL. -1 with `e` (EXIT_USAGE) on a bad value. */
int rm_param(const char *name, const char *param, double def, double lo, double hi, double *out,
             lerr_t *e);

#endif
