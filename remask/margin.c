/* margin.c — Dream's `topk_margin` order (llada.md §4.5): commit the n_commit positions with
 * the largest gap between the top-1 and top-2 probabilities (rm_cand_t.margin, computed on
 * the unmodified distribution). Fixed schedule; ties to the lower position. */
#include <stddef.h>
#include "policies.h"
#include "rank.h"

static int margin_select(void *self, const rm_state_t *st, const rm_cand_t *cands, int n, int32_t *out, lerr_t *e) {
    (void)self;
    return rm_select_topk(st, cands, n, rm_key_margin, out, e);
}

static const rm_ops_t MARGIN_OPS = {.adaptive = false, .select = margin_select};

rm_policy_t *rm_margin_new(const char *param, lerr_t *e) {
    if (rm_no_param("topk_margin", param, e)) return NULL;
    return rm_policy_from_ops(&MARGIN_OPS, NULL, "topk_margin", e);
}
