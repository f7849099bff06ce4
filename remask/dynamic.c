/* dynamic.c — SDAR's low_confidence_dynamic (JetAstra/SDAR generate.py): when at least
 * n_commit eligible positions have confidence > T, commit all of them; otherwise the n_commit
 * most confident (T default 0.85, SDAR's confidence_threshold). Unlike `threshold` it never
 * commits fewer than the schedule's quota and follows the fixed step count (not adaptive);
 * SDAR's block sampler (denoise/bdsample.c) stops a block early once it has no masks.
 * Order of the answer: descending confidence, ties to the lower position. */
#include <stdlib.h>
#include "policies.h"
#include "rank.h"

typedef struct {
    double t;
} dynamic_t;

static int dynamic_select(void *self, const rm_state_t *st, const rm_cand_t *cands, int n, int32_t *out, lerr_t *e) {
    const dynamic_t *p = self;
    if (n <= 0) return 0;
    rm_ranked_t *r = rm_rank(st, cands, n, rm_key_conf, e);
    if (!r) return -1;
    int high = 0;
    while (high < n && r[high].key > p->t) high++;
    int k = high >= st->n_commit ? high : (st->n_commit < n ? st->n_commit : n);
    for (int i = 0; i < k; i++) out[i] = r[i].pos;
    free(r);
    return k;
}

static const rm_ops_t DYNAMIC_OPS = {.adaptive = false, .select = dynamic_select, .destroy = free};

rm_policy_t *rm_dynamic_new(const char *param, lerr_t *e) {
    double t;
    if (rm_param("dynamic", param, 0.85, 0.0, 1.0, &t, e)) return NULL;
    dynamic_t *p = malloc(sizeof *p);
    if (!p) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    p->t = t;
    return rm_policy_from_ops(&DYNAMIC_OPS, p, "dynamic", e);
}
