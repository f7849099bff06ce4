/* policy.c — a remasking policy is a table of operations (rm_ops_t) plus its state; this
 * file is the one dispatch point behind remask.h. Which names exist and what they build is
 * the registry's business (registry.c); how candidates are ordered is rank.c's. Nothing
 * here knows any policy by name.
 */
#include <stdlib.h>
#include <string.h>
#include "remask.h"

struct rm_policy {
    const rm_ops_t *ops;
    void *self;
    char *name;
};

rm_policy_t *rm_policy_from_ops(const rm_ops_t *ops, void *self, const char *name, lerr_t *e) {
    rm_policy_t *p = calloc(1, sizeof *p);
    char *nm = strdup(name);
    if (!p || !nm) {
        free(p);
        free(nm);
        if (ops->destroy) ops->destroy(self);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    p->ops = ops;
    p->self = self;
    p->name = nm;
    return p;
}

void rm_policy_destroy(rm_policy_t **p) {
    if (!p || !*p) return;
    if ((*p)->ops->destroy) (*p)->ops->destroy((*p)->self);
    free((*p)->name);
    free(*p);
    *p = NULL;
}

const char *rm_policy_name(const rm_policy_t *p) { return p->name; }

bool rm_policy_adaptive(const rm_policy_t *p) { return p->ops->adaptive; }

int rm_policy_select(rm_policy_t *p, const rm_state_t *st, const rm_cand_t *cands, int n, int32_t *out, lerr_t *e) {
    return p->ops->select(p->self, st, cands, n, out, e);
}
