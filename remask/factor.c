/* factor.c — Fast-dLLM's factor rule for parallel decoding (peers.md §2.1).
 *
 * Sort the eligible positions by confidence, highest first; the n-th best (n = 1, 2, ...)
 * is accepted while its confidence >= 1 - F / (n + 1), stopping at the first that fails;
 * the first is always accepted. Larger F accepts more per step. Adaptive: the sampler
 * repeats steps until the block has no masks.
 * Difference from the reference code (Fast-dLLM get_transfer_index_dynamic): there, when
 * the first failure is the last candidate, that candidate is accepted anyway (an index
 * quirk); here the rule is applied as stated.
 */
#include <stdlib.h>
#include "policies.h"
#include "rank.h"

typedef struct {
    double f;
} factor_t;

static int factor_select(void *self, const rm_state_t *st, const rm_cand_t *cands, int n, int32_t *out, lerr_t *e) {
    const factor_t *p = self;
    if (n <= 0) return 0;
    rm_ranked_t *r = rm_rank(st, cands, n, rm_key_conf, e);
    if (!r) return -1;
    int k = 1; /* r[k] is the (k+1)-th best: threshold 1 - F / (k + 2) */
    while (k < n && r[k].key >= 1.0 - p->f / (double)(k + 2)) k++;
    for (int i = 0; i < k; i++) out[i] = r[i].pos;
    free(r);
    return k;
}

static const rm_ops_t FACTOR_OPS = {.adaptive = true, .select = factor_select, .destroy = free};

rm_policy_t *rm_factor_new(const char *param, lerr_t *e) {
    double f;
    if (rm_param("factor", param, 1.0, 0.0, 1e6, &f, e)) return NULL;
    factor_t *p = malloc(sizeof *p);
    if (!p) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    p->f = f;
    return rm_policy_from_ops(&FACTOR_OPS, p, "factor", e);
}
