/* eval.c — held-out likelihood bound (diffusion) or NLL (AR) of a token corpus (eval.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "eval.h"

/* Row `row` of the flattened (window, sample) list into the batch at row slot `r`. */
static void fill_row(const tbatch_cfg_t *c, const tdata_t *d, int n_mc, long row, int r, tbatch_t *b, uint32_t *scratch,
                     size_t *l) {
    int T = c->T;
    long g = row / n_mc, i = row % n_mc;
    const int32_t *x0 = d->toks + (size_t)g * T;
    int32_t *ids = b->ids + (size_t)r * T, *tgt = b->tgt + (size_t)r * T;
    float *w = b->w + (size_t)r * T;
    if (c->objective == OBJ_AR) {
        for (int j = 0; j + 1 < T; j++) {
            ids[j] = x0[j];
            tgt[j] = x0[j + 1];
            w[j] = 1.0f;
        }
        return;
    }
    ll_counts(T, n_mc, ll_offset(&c->noise, g, 0, T), l);
    mrng_t rg;
    ll_sample_rng(&c->noise, g, i, &rg);
    ll_mask_exact(x0, ids, 0, T, l[i], c->noise.mask_id, &rg, scratch);
    float wt = (float)((double)T / l[i] / n_mc);
    for (int j = 0; j < T; j++) {
        tgt[j] = x0[j];
        w[j] = ids[j] == c->noise.mask_id ? wt : 0.0f;
    }
}

int eval_corpus(const tbatch_cfg_t *c, const tdata_t *d, tstep_t *s, const tview_t *P, int n_mc, int max_windows,
                teval_t *out, lerr_t *e) {
    int T = c->T, ar = c->objective == OBJ_AR;
    long nw = (long)(d->n_toks / T);
    if (max_windows > 0 && nw > max_windows) nw = max_windows;
    if (nw < 1) return lerr_set(e, EXIT_DATA, "evaluation corpus shorter than one window of %d tokens", T);
    if (ar) n_mc = 1;
    memset(out, 0, sizeof(*out));
    tbatch_t b;
    uint32_t *scratch = malloc(sizeof(uint32_t) * T);
    size_t *l = malloc(sizeof(size_t) * n_mc);
    if (!scratch || !l || tbatch_alloc(&b, (size_t)c->B * T, e)) {
        free(scratch);
        free(l);
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    }
    long rows = nw * n_mc;
    int rc = 0;
    for (long r0 = 0; r0 < rows && !rc; r0 += c->B) {
        int nb = (int)(rows - r0 < c->B ? rows - r0 : c->B), Tb = ar ? T - 1 : T;
        for (int r = 0; r < nb; r++) fill_row(c, d, n_mc, r0 + r, r, &b, scratch, l);
        if (ar) /* rows were written with stride T; compact to stride T-1 */
            for (int r = 1; r < nb; r++) {
                memmove(b.ids + (size_t)r * Tb, b.ids + (size_t)r * T, sizeof(int32_t) * Tb);
                memmove(b.tgt + (size_t)r * Tb, b.tgt + (size_t)r * T, sizeof(int32_t) * Tb);
                memmove(b.w + (size_t)r * Tb, b.w + (size_t)r * T, sizeof(float) * Tb);
            }
        double L = tstep_run(s, P, NULL, b.ids, b.tgt, b.w, nb, Tb, ar, NULL, e);
        if (isnan(L)) rc = -1;
        else out->nats += L;
    }
    out->windows = (int)nw;
    out->tokens = (double)nw * (ar ? T - 1 : T);
    tbatch_free(&b);
    free(scratch);
    free(l);
    return rc;
}
