/* low_confidence.c — LLaDA's default remasking (llada.md §1.1): commit the n_commit
 * positions whose predicted token has the highest confidence (rm_cand_t.conf, the softmax
 * probability under the official sampler's logits). -inf confidences rank last but still
 * fill the quota, as torch.topk does in the official sampler. Fixed schedule. */
#include <stddef.h>
#include "policies.h"
#include "rank.h"

static int low_confidence_select(void *self, const rm_state_t *st, const rm_cand_t *cands, int n, int32_t *out,
                                 lerr_t *e) {
    (void)self;
    return rm_select_topk(st, cands, n, rm_key_conf, out, e);
}

static const rm_ops_t LOW_CONFIDENCE_OPS = {.adaptive = false, .select = low_confidence_select};

rm_policy_t *rm_low_confidence_new(const char *param, lerr_t *e) {
    if (rm_no_param("low_confidence", param, e)) return NULL;
    return rm_policy_from_ops(&LOW_CONFIDENCE_OPS, NULL, "low_confidence", e);
}
