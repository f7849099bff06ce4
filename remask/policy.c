/* policy.c — the built-in remasking policies behind remask.h.
 *
 * Both rank the eligible masked positions by a key and commit the top n_commit:
 * low_confidence by the model's confidence in its prediction (LLaDA's default), random by a
 * seeded uniform draw keyed on (seed, record, step, position) so results do not depend on
 * batching. Ties go to the lower position; -inf keys rank last but still fill the quota,
 * as torch.topk does in the official sampler.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "remask.h"
#include "crng.h"

typedef enum { POL_LOW_CONFIDENCE, POL_RANDOM } pol_kind_t;

struct rm_policy {
    pol_kind_t kind;
    const char *name;
};

static const char *const POLICY_NAMES[] = {"low_confidence", "random", NULL};

const char *const *rm_policy_list(void) { return POLICY_NAMES; }

rm_policy_t *rm_policy_new(const char *name, lerr_t *e) {
    for (int i = 0; POLICY_NAMES[i]; i++) {
        if (strcmp(name, POLICY_NAMES[i])) continue;
        rm_policy_t *p = calloc(1, sizeof *p);
        if (!p) { lerr_set(e, EXIT_INTERNAL, "out of memory"); return NULL; }
        p->kind = (pol_kind_t)i;
        p->name = POLICY_NAMES[i];
        return p;
    }
    lerr_set(e, EXIT_USAGE, "unknown remasking policy '%s' (known: low_confidence, random)", name);
    return NULL;
}

void rm_policy_destroy(rm_policy_t **p) {
    if (!p || !*p) return;
    free(*p);
    *p = NULL;
}

const char *rm_policy_name(const rm_policy_t *p) { return p->name; }

typedef struct {
    double key;
    int32_t pos;
} ranked_t;

static int by_key_desc(const void *a, const void *b) {
    const ranked_t *x = a, *y = b;
    if (x->key > y->key) return -1;
    if (x->key < y->key) return 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

int rm_policy_select(rm_policy_t *p, const rm_state_t *st, const rm_cand_t *cands, int n,
                     int32_t *out, lerr_t *e) {
    if (n <= 0) return 0;
    ranked_t *r = malloc((size_t)n * sizeof *r);
    if (!r) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    for (int i = 0; i < n; i++) {
        r[i].pos = cands[i].pos;
        if (p->kind == POL_LOW_CONFIDENCE) {
            r[i].key = isnan(cands[i].conf) ? -INFINITY : cands[i].conf;
        } else {
            r[i].key = crng_u01(st->seed, CRNG_RANDOM_REMASK, (uint64_t)st->record,
                                (uint64_t)st->step, (uint64_t)cands[i].pos, 0);
        }
    }
    qsort(r, (size_t)n, sizeof *r, by_key_desc);
    int k = st->n_commit < n ? st->n_commit : n;
    if (k < 0) k = 0;
    for (int i = 0; i < k; i++) out[i] = r[i].pos;
    free(r);
    return k;
}
