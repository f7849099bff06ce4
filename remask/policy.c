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
    const rm_ops_t *ops;  /* external policies (rm_policy_from_ops); NULL for built-ins */
    void *self;
    char *own_name;
};

static const char *const POLICY_NAMES[] = {"low_confidence", "random", NULL};

const char *const *rm_policy_list(void) { return rm_all_names(); }

rm_policy_t *rm_policy_new(const char *name, lerr_t *e) {
    for (int i = 0; POLICY_NAMES[i]; i++) {
        if (strcmp(name, POLICY_NAMES[i])) continue;
        rm_policy_t *p = calloc(1, sizeof *p);
        if (!p) { lerr_set(e, EXIT_INTERNAL, "out of memory"); return NULL; }
        p->kind = (pol_kind_t)i;
        p->name = POLICY_NAMES[i];
        return p;
    }
    lerr_t xe = {0};
    rm_policy_t *x = rm_ext_new(name, &xe);  /* remask/registry.c */
    if (x) return x;
    if (xe.code) { if (e) *e = xe; return NULL; }
    lerr_set(e, EXIT_USAGE, "unknown remasking policy '%s' (see remask --list)", name);
    return NULL;
}

void rm_policy_destroy(rm_policy_t **p) {
    if (!p || !*p) return;
    if ((*p)->ops && (*p)->ops->destroy) (*p)->ops->destroy((*p)->self);
    free((*p)->own_name);
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
    if (p->ops) return p->ops->select(p->self, st, cands, n, out, e);
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

rm_policy_t *rm_policy_from_ops(const rm_ops_t *ops, void *self, const char *name, lerr_t *e) {
    rm_policy_t *p = calloc(1, sizeof *p);
    char *nm = strdup(name);
    if (!p || !nm) {
        free(p); free(nm);
        if (ops->destroy) ops->destroy(self);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    p->ops = ops;
    p->self = self;
    p->name = p->own_name = nm;
    return p;
}

bool rm_policy_adaptive(const rm_policy_t *p) { return p->ops && p->ops->adaptive; }
