/* batch.c — building training batches for the diffusion and AR objectives (see batch.h). */
#include <stdlib.h>
#include <string.h>
#include "batch.h"
#include "keyrng.h"

#define RNG_WINDOW 102u /* mrng purpose: the corpus offset of a batch row */

int tplan_make(tplan_t *p, const tdata_t *d, int B, lerr_t *e) {
    memset(p, 0, sizeof(*p));
    p->start = malloc(sizeof(size_t) * (d->n_recs + 1));
    p->count = malloc(sizeof(int) * (d->n_recs + 1));
    if (!p->start || !p->count) {
        tplan_free(p);
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    }
    for (size_t i = 0; i < d->n_recs;) {
        size_t j = i + 1;
        while (j < d->n_recs && (int)(j - i) < B && d->recs[j].len == d->recs[i].len) j++;
        p->start[p->n] = i;
        p->count[p->n++] = (int)(j - i);
        i = j;
    }
    return 0;
}

void tplan_free(tplan_t *p) {
    free(p->start);
    free(p->count);
    memset(p, 0, sizeof(*p));
}

int tbatch_alloc(tbatch_t *b, size_t cap, lerr_t *e) {
    memset(b, 0, sizeof(*b));
    b->ids = malloc(cap * sizeof(int32_t));
    b->tgt = malloc(cap * sizeof(int32_t));
    b->w = malloc(cap * sizeof(float));
    b->cap = cap;
    if (!b->ids || !b->tgt || !b->w) {
        tbatch_free(b);
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    }
    return 0;
}

void tbatch_free(tbatch_t *b) {
    free(b->ids);
    free(b->tgt);
    free(b->w);
    memset(b, 0, sizeof(*b));
}

int tbatch_max_len(const tbatch_cfg_t *c, const tdata_t *d) {
    if (!d->n_recs) return c->T;
    int mx = 0;
    for (size_t i = 0; i < d->n_recs; i++) mx = d->recs[i].len > mx ? d->recs[i].len : mx;
    return c->objective == OBJ_AR ? mx - 1 : mx;
}

/* One row from x0[0..L) (+ xt for diffusion): fills ids/tgt/w of length L (diffusion) or
 * L-1 (AR). Returns the number of loss positions. */
static int make_row(const tbatch_cfg_t *c, const int32_t *x0, const int32_t *xt, int L, int pl, int al, double p, int B,
                    int32_t *ids, int32_t *tgt, float *w) {
    int n = 0;
    if (c->objective == OBJ_AR) {
        int cnt = 0;
        for (int i = 0; i + 1 < L; i++) cnt += (i + 1 >= pl);
        for (int i = 0; i + 1 < L; i++) {
            ids[i] = x0[i];
            tgt[i] = x0[i + 1];
            w[i] = (i + 1 >= pl) ? (float)(1.0 / ((double)cnt * B)) : 0.0f;
            n += w[i] != 0.0f;
        }
        return n;
    }
    float wm = (float)(1.0 / (p * al * B));
    for (int i = 0; i < L; i++) {
        ids[i] = xt[i];
        tgt[i] = x0[i];
        w[i] = (i >= pl && xt[i] == c->noise.mask_id) ? wm : 0.0f;
        n += w[i] != 0.0f;
    }
    return n;
}

static int make_corpus(const tbatch_cfg_t *c, const tdata_t *d, int64_t step, tbatch_t *b, lerr_t *e) {
    /* LLaDA's "1% of batches cropped to a random length": the whole batch, keyed by step */
    bool crop;
    int T = (int)noise_crop(&c->noise, (uint64_t)step, (size_t)c->T, &crop);
    if (T < 2) T = 2;
    int W = c->objective == OBJ_AR ? T + 1 : T;
    if (d->n_toks < (size_t)W + 1)
        return lerr_set(e, EXIT_DATA,
                        "the token corpus (%zu tokens) is shorter than one window "
                        "of %d tokens",
                        d->n_toks, W + 1);
    noise_cfg_t nc = c->noise;
    nc.crop_frac = 0;
    int32_t *xt = malloc(sizeof(int32_t) * W);
    if (!xt) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    b->B = c->B;
    b->T = T;
    b->n_loss = 0;
    for (int r = 0; r < c->B; r++) {
        uint64_t unit = (uint64_t)step * c->B + r;
        mrng_t g;
        mrng_init(&g, nc.seed, nc.stream, unit, RNG_WINDOW);
        const int32_t *seq = d->toks + mrng_below(&g, d->n_toks - W + 1);
        double t = 0, p = 1;
        bool cropped;
        size_t nm;
        if (c->objective == OBJ_DIFFUSION) noise_pretrain(&nc, unit, seq, W, xt, &t, &p, &cropped, &nm);
        b->n_loss += make_row(c, seq, xt, W, 0, W, p, c->B, b->ids + (size_t)r * T, b->tgt + (size_t)r * T,
                              b->w + (size_t)r * T);
    }
    free(xt);
    return 0;
}

int tbatch_make(const tbatch_cfg_t *c, const tdata_t *d, const tplan_t *plan, int64_t step, tbatch_t *b, lerr_t *e) {
    if (!plan) return make_corpus(c, d, step, b, e);
    if (plan->n == 0) return lerr_set(e, EXIT_DATA, "no training records");
    size_t k = (size_t)(step % (int64_t)plan->n);
    int cnt = plan->count[k];
    const tmasked_t *m0 = &d->recs[plan->start[k]];
    int T = c->objective == OBJ_AR ? m0->len - 1 : m0->len;
    if ((size_t)cnt * T > b->cap) return lerr_set(e, EXIT_INTERNAL, "batch exceeds its buffer");
    b->B = cnt;
    b->T = T;
    b->n_loss = 0;
    for (int r = 0; r < cnt; r++) {
        const tmasked_t *m = m0 + r;
        b->n_loss += make_row(c, m->x0, m->xt, m->len, m->prompt_len, m->answer_len, m->p, cnt, b->ids + (size_t)r * T,
                              b->tgt + (size_t)r * T, b->w + (size_t)r * T);
    }
    return 0;
}
