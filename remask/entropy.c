/* entropy.c — Dream's `entropy` order (llada.md §4.5): commit the n_commit positions whose
 * predictive distribution has the lowest entropy (Dream ranks by negative entropy;
 * rm_cand_t.entropy, nats, unmodified distribution). Fixed schedule; ties to the lower
 * position. */
#include <stddef.h>
#include "policies.h"
#include "rank.h"

static int entropy_select(void *self, const rm_state_t *st, const rm_cand_t *cands, int n, int32_t *out, lerr_t *e) {
    (void)self;
    return rm_select_topk(st, cands, n, rm_key_neg_entropy, out, e);
}

static const rm_ops_t ENTROPY_OPS = {.adaptive = false, .select = entropy_select};

rm_policy_t *rm_entropy_new(const char *param, lerr_t *e) {
    if (rm_no_param("entropy", param, e)) return NULL;
    return rm_policy_from_ops(&ENTROPY_OPS, NULL, "entropy", e);
}
