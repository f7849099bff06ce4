/* origin.c — Dream's `origin` algorithm (diffusion_generate's default alg; llada.md §4.5):
 * at step i of a block's steps every masked candidate is revealed independently with
 * probability p = 1 - t[i+1]/t[i] (float32 timesteps t = linspace(1, EPS, steps+1),
 * remask/schedule.h), and every one left at the last step. The number revealed per step is
 * therefore random, not the n_commit quota; the step count stays fixed (not adaptive).
 * Draws: u = crng_u01(seed, CRNG_RANDOM_REMASK, record, step, pos, 1) < p (kernels/crng.h;
 * last counter 1 keeps them apart from the `random` policy's), so a choice does not depend
 * on batching or on the process running the policy. torch.rand's draws are not reproduced.
 * EPS (origin:EPS) defaults to Dream's 1e-3. Order of the answer: ascending position. */
#include <stdlib.h>
#include "policies.h"
#include "rank.h"
#include "crng.h"
#include "remask/schedule.h"

typedef struct {
    double eps;
} origin_t;

static int origin_select(void *self, const rm_state_t *st, const rm_cand_t *cands, int n, int32_t *out, lerr_t *e) {
    (void)e;
    const origin_t *o = self;
    float p = rm_sched_timestep_frac(st->block_step, st->steps_per_block, o->eps);
    int k = 0;
    for (int i = 0; i < n; i++) {
        double u =
            crng_u01(st->seed, CRNG_RANDOM_REMASK, (uint64_t)st->record, (uint64_t)st->step, (uint64_t)cands[i].pos, 1);
        if (p >= 1.0f || u < (double)p) out[k++] = cands[i].pos;
    }
    return k;
}

static const rm_ops_t ORIGIN_OPS = {.adaptive = false, .select = origin_select, .destroy = free};

rm_policy_t *rm_origin_new(const char *param, lerr_t *e) {
    double eps;
    if (rm_param("origin", param, 1e-3, 1e-12, 0.999999, &eps, e)) return NULL;
    origin_t *o = malloc(sizeof *o);
    if (!o) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    o->eps = eps;
    return rm_policy_from_ops(&ORIGIN_OPS, o, "origin", e);
}
