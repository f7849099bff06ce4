/* threshold.c — Fast-dLLM's confidence-threshold parallel decoding (llada.md §1.7).
 *
 * Each step commits every eligible masked position whose confidence is >= T, and always at
 * least the most confident one, so a block never stalls; the sampler repeats steps until
 * the block has no masks (adaptive). Confidence is rm_cand_t.conf, the quantity
 * low_confidence ranks by. Order of the answer: descending confidence, ties to the lower
 * position.
 */
#include <stdlib.h>
#include "policies.h"
#include "rank.h"

typedef struct {
    double t;
} threshold_t;

static int threshold_select(void *self, const rm_state_t *st, const rm_cand_t *cands, int n, int32_t *out, lerr_t *e) {
    const threshold_t *p = self;
    if (n <= 0) return 0;
    rm_ranked_t *r = rm_rank(st, cands, n, rm_key_conf, e);
    if (!r) return -1;
    int k = 1;
    while (k < n && r[k].key >= p->t) k++;
    for (int i = 0; i < k; i++) out[i] = r[i].pos;
    free(r);
    return k;
}

static const rm_ops_t THRESHOLD_OPS = {.adaptive = true, .select = threshold_select, .destroy = free};

rm_policy_t *rm_threshold_new(const char *param, lerr_t *e) {
    double t;
    if (rm_param("threshold", param, 0.9, 0.0, 1.0, &t, e)) return NULL;
    threshold_t *p = malloc(sizeof *p);
    if (!p) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    p->t = t;
    return rm_policy_from_ops(&THRESHOLD_OPS, p, "threshold", e);
}
