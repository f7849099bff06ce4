/* reduce.c — likelihood-bound reducer and multiple-choice chooser (see reduce.h).
 *
 * The reducer keeps a small array of groups in progress; with in-order input it holds one.
 * Per group it accumulates w = −ce/p (Welford mean/variance), so bound = mean(w) and
 * se = sqrt(var(w)/n). For the stratified estimator this se is conservative (stratification
 * only lowers the variance of the mean).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "reduce.h"
#include "mask/records.h"

typedef struct {
    int64_t group, n_mc, count;
    double mean, m2;
    rec_t *head; /* user fields + lengths of the group's first sample */
} pending_t;

struct reducer {
    pending_t *p;
    size_t n, cap;
};

reducer_t *reducer_new(lerr_t *e) {
    reducer_t *rd = calloc(1, sizeof *rd);
    if (!rd) lerr_set(e, EXIT_INTERNAL, "out of memory");
    return rd;
}

void reducer_destroy(reducer_t **rdp) {
    if (!rdp || !*rdp) return;
    for (size_t i = 0; i < (*rdp)->n; i++) rec_destroy(&(*rdp)->p[i].head);
    free((*rdp)->p);
    free(*rdp);
    *rdp = NULL;
}

/* Read the sample's numbers; -1 with a message naming the field. */
static int sample_fields(const rec_t *r, int64_t *group, int64_t *n_mc, double *p, double *ce, lerr_t *e) {
    if (rec_get_int(r, "group", group) || *group < 0)
        return lerr_set(e, EXIT_DATA, "scored sample needs an integer \"group\" >= 0");
    if (rec_get_int(r, "n_mc", n_mc) || *n_mc < 1)
        return lerr_set(e, EXIT_DATA, "scored sample needs an integer \"n_mc\" >= 1 (from mask --likelihood)");
    if (rec_get_f64(r, "p", p) || !(*p > 0) || *p > 1)
        return lerr_set(e, EXIT_DATA, "scored sample needs \"p\" in (0, 1]");
    if (rec_get_f64(r, "ce", ce) || !isfinite(*ce) || *ce < 0)
        return lerr_set(e, EXIT_DATA, "scored sample needs a finite \"ce\" >= 0 (from denoise --score)");
    return 0;
}

static pending_t *find_or_add(reducer_t *rd, const rec_t *r, int64_t group, int64_t n_mc, lerr_t *e) {
    for (size_t i = rd->n; i-- > 0;)
        if (rd->p[i].group == group) return &rd->p[i];
    if (rd->n == rd->cap) {
        size_t cap = rd->cap ? rd->cap * 2 : 8;
        pending_t *np = realloc(rd->p, cap * sizeof *np);
        if (!np) return lerr_set(e, EXIT_INTERNAL, "out of memory"), NULL;
        rd->p = np;
        rd->cap = cap;
    }
    pending_t *g = &rd->p[rd->n];
    memset(g, 0, sizeof *g);
    g->group = group;
    g->n_mc = n_mc;
    g->head = rec_new();
    int64_t pl = 0, al = 0;
    rec_get_int(r, "prompt_len", &pl);
    rec_get_int(r, "answer_len", &al);
    if (!g->head || rec_set_str(g->head, "kind", "likelihood") || rec_set_int(g->head, "v", PROTOCOL_VERSION) ||
        rec_set_int(g->head, "group", group) || rec_set_f64(g->head, "bound", 0) || rec_set_f64(g->head, "se", 0) ||
        rec_set_int(g->head, "n_mc", n_mc) || rec_set_int(g->head, "prompt_len", pl) ||
        rec_set_int(g->head, "answer_len", al) || rec_copy_user_fields(g->head, r, e)) {
        rec_destroy(&g->head);
        return lerr_set(e, EXIT_INTERNAL, "out of memory"), NULL;
    }
    rd->n++;
    return g;
}

int reducer_add(reducer_t *rd, const rec_t *r, rec_t **done, lerr_t *e) {
    int64_t group, n_mc;
    double p, ce;
    *done = NULL;
    if (sample_fields(r, &group, &n_mc, &p, &ce, e)) return -1;
    pending_t *g = find_or_add(rd, r, group, n_mc, e);
    if (!g) return -1;
    if (g->n_mc != n_mc)
        return lerr_set(e, EXIT_DATA, "group %lld: samples disagree on n_mc (%lld vs %lld)", (long long)group,
                        (long long)g->n_mc, (long long)n_mc);
    double w = -ce / p, d = w - g->mean;
    g->count++;
    g->mean += d / (double)g->count;
    g->m2 += d * (w - g->mean);
    if (g->count < g->n_mc) return 0;
    double var = g->count > 1 ? g->m2 / (double)(g->count - 1) : 0;
    if (rec_set_f64(g->head, "bound", g->mean) || rec_set_f64(g->head, "se", sqrt(var / (double)g->count)))
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    *done = g->head;
    *g = rd->p[--rd->n]; /* order of pending groups does not matter */
    return 0;
}

int reducer_finish(reducer_t *rd, lerr_t *e) {
    if (rd->n == 0) return 0;
    return lerr_set(e, EXIT_DATA,
                    "%zu likelihood group(s) incomplete at end of input (group %lld: %lld of %lld samples)", rd->n,
                    (long long)rd->p[0].group, (long long)rd->p[0].count, (long long)rd->p[0].n_mc);
}

/* ------------------------------------------------------------------ chooser */

struct chooser {
    int64_t question, answer;
    bool open;
    double *bounds;
    size_t n, cap;
    int64_t best_choice;
    double best;
    rec_t *head;
    uint64_t questions, correct;
};

chooser_t *chooser_new(lerr_t *e) {
    chooser_t *c = calloc(1, sizeof *c);
    if (!c) lerr_set(e, EXIT_INTERNAL, "out of memory");
    return c;
}

void chooser_destroy(chooser_t **cp) {
    if (!cp || !*cp) return;
    free((*cp)->bounds);
    rec_destroy(&(*cp)->head);
    free(*cp);
    *cp = NULL;
}

/* Close the open question into a choice record. */
static int flush(chooser_t *c, rec_t **done, lerr_t *e) {
    *done = NULL;
    if (!c->open) return 0;
    c->open = false;
    bool ok = c->best_choice == c->answer;
    c->questions++;
    c->correct += ok;
    rec_t *r = c->head;
    c->head = NULL;
    if (rec_set_str(r, "kind", "choice") || rec_set_int(r, "question", c->question) ||
        rec_set_int(r, "pred", c->best_choice) || rec_set_int(r, "answer", c->answer) ||
        rec_set_bool(r, "correct", ok) ||
        !rec_set_tensor_copy(r, "bounds", DT_F64, 1, (int64_t[]){(int64_t)c->n}, c->bounds)) {
        rec_destroy(&r);
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    }
    *done = r;
    return 0;
}

int chooser_add(chooser_t *c, const rec_t *r, rec_t **done, lerr_t *e) {
    int64_t q, choice, answer;
    double bound;
    *done = NULL;
    if (rec_get_int(r, "question", &q) || rec_get_int(r, "choice", &choice) || rec_get_int(r, "answer", &answer) ||
        rec_get_f64(r, "bound", &bound))
        return lerr_set(e, EXIT_DATA,
                        "likelihood record needs integer \"question\", \"choice\", \"answer\" and \"bound\"");
    if (c->open && q != c->question && flush(c, done, e)) return -1;
    if (!c->open) {
        c->open = true;
        c->question = q;
        c->answer = answer;
        c->n = 0;
        c->best = -INFINITY;
        c->best_choice = -1;
        c->head = rec_new();
        if (!c->head || rec_copy_user_fields(c->head, r, e)) return lerr_set(e, EXIT_INTERNAL, "out of memory");
        rec_del(c->head, "choice");
        rec_del(c->head, "bound");
        rec_del(c->head, "se");
        rec_del(c->head, "n_mc");
        rec_del(c->head, "text");
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        double *nb = realloc(c->bounds, cap * sizeof *nb);
        if (!nb) return lerr_set(e, EXIT_INTERNAL, "out of memory");
        c->bounds = nb;
        c->cap = cap;
    }
    c->bounds[c->n++] = bound;
    if (bound > c->best) c->best = bound, c->best_choice = choice;
    return 0;
}

int chooser_finish(chooser_t *c, rec_t **done, lerr_t *e) { return flush(c, done, e); }

void chooser_score(const chooser_t *c, uint64_t *questions, uint64_t *correct) {
    *questions = c->questions;
    *correct = c->correct;
}
