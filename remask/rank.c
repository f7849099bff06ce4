/* rank.c — the ranking rule of every policy (see rank.h) and policy parameter parsing. */
#include <math.h>
#include <stdlib.h>
#include "rank.h"
#include "cli.h"

double rm_key_conf(const rm_cand_t *c, const rm_state_t *st) {
    (void)st;
    return c->conf;
}
double rm_key_margin(const rm_cand_t *c, const rm_state_t *st) {
    (void)st;
    return c->margin;
}
double rm_key_neg_entropy(const rm_cand_t *c, const rm_state_t *st) {
    (void)st;
    return -(double)c->entropy;
}

/* Key descending, then position ascending: a total order, so qsort's instability is moot. */
static int by_key_desc(const void *a, const void *b) {
    const rm_ranked_t *x = a, *y = b;
    if (x->key > y->key) return -1;
    if (x->key < y->key) return 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

rm_ranked_t *rm_rank(const rm_state_t *st, const rm_cand_t *cands, int n, rm_key_fn key, lerr_t *e) {
    rm_ranked_t *r = malloc((size_t)n * sizeof *r);
    if (!r) {
        lerr_set(e, EXIT_INTERNAL, "out of memory ranking %d candidates", n);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        double k = key(&cands[i], st);
        r[i].key = isnan(k) ? -INFINITY : k;
        r[i].pos = cands[i].pos;
        r[i].idx = i;
    }
    qsort(r, (size_t)n, sizeof *r, by_key_desc);
    return r;
}

int rm_param(const char *name, const char *param, double def, double lo, double hi, double *out, lerr_t *e) {
    if (!param) {
        *out = def;
        return 0;
    }
    bool ok;
    double v = cli_parse_double(param, &ok);
    if (!ok || !isfinite(v) || v < lo || v > hi)
        return lerr_set(e, EXIT_USAGE, "policy %s: parameter must be a number in [%g, %g], got '%s'", name, lo, hi,
                        param);
    *out = v;
    return 0;
}

int rm_no_param(const char *name, const char *param, lerr_t *e) {
    if (param) return lerr_set(e, EXIT_USAGE, "policy %s takes no parameter", name);
    return 0;
}

int rm_select_topk(const rm_state_t *st, const rm_cand_t *cands, int n, rm_key_fn key, int32_t *out, lerr_t *e) {
    if (n <= 0) return 0;
    rm_ranked_t *r = rm_rank(st, cands, n, key, e);
    if (!r) return -1;
    int k = st->n_commit < n ? st->n_commit : n;
    if (k < 0) k = 0;
    for (int i = 0; i < k; i++) out[i] = r[i].pos;
    free(r);
    return k;
}
