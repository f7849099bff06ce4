/* eb.c — the entropy-bounded sampler (EB-Sampler, arXiv 2505.24857; peers.md §3).
 *
 * Sort the eligible positions by entropy, lowest first, and commit the largest prefix
 * whose summed entropy minus its largest entropy is <= GAMMA (nats). A single position
 * always qualifies (its sum minus max is 0), so every step commits at least one.
 * Adaptive: the sampler repeats steps until the block has no masks. GAMMA = 0 commits
 * one position per step unless several have exactly zero entropy.
 */
#include <math.h>
#include <stdlib.h>
#include "policies.h"
#include "rank.h"

typedef struct {
    double gamma;
} eb_t;

static int eb_select(void *self, const rm_state_t *st, const rm_cand_t *cands, int n, int32_t *out, lerr_t *e) {
    const eb_t *p = self;
    if (n <= 0) return 0;
    rm_ranked_t *r = rm_rank(st, cands, n, rm_key_neg_entropy, e);
    if (!r) return -1;
    /* ascending entropy: the prefix maximum is its last element */
    double sum = -r[0].key;
    int k = 1;
    while (k < n) {
        double h = -r[k].key;
        /* prefix r[0..k]: sum + h, max h, so the bound is sum <= gamma */
        if (!isfinite(h) || sum > p->gamma) break;
        sum += h;
        k++;
    }
    for (int i = 0; i < k; i++) out[i] = r[i].pos;
    free(r);
    return k;
}

static const rm_ops_t EB_OPS = {.adaptive = true, .select = eb_select, .destroy = free};

rm_policy_t *rm_eb_new(const char *param, lerr_t *e) {
    double g;
    if (rm_param("eb", param, 0.01, 0.0, 1e6, &g, e)) return NULL;
    eb_t *p = malloc(sizeof *p);
    if (!p) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    p->gamma = g;
    return rm_policy_from_ops(&EB_OPS, p, "eb", e);
}
