/* random.c — the paper's random remasking (llada.md §1.1): commit the n_commit positions
 * with the highest seeded U(0,1) draw u = crng_u01(seed, CRNG_RANDOM_REMASK, record, step,
 * pos) (kernels/crng.h), so the choice does not depend on batching or on which process
 * runs the policy. Fixed schedule. */
#include <stddef.h>
#include "policies.h"
#include "rank.h"
#include "crng.h"

static double draw_key(const rm_cand_t *c, const rm_state_t *st) {
    return crng_u01(st->seed, CRNG_RANDOM_REMASK, (uint64_t)st->record, (uint64_t)st->step, (uint64_t)c->pos, 0);
}

static int random_select(void *self, const rm_state_t *st, const rm_cand_t *cands, int n, int32_t *out, lerr_t *e) {
    (void)self;
    return rm_select_topk(st, cands, n, draw_key, out, e);
}

static const rm_ops_t RANDOM_OPS = {.adaptive = false, .select = random_select};

rm_policy_t *rm_random_new(const char *param, lerr_t *e) {
    if (rm_no_param("random", param, e)) return NULL;
    return rm_policy_from_ops(&RANDOM_OPS, NULL, "random", e);
}
