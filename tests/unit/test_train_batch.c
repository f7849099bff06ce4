/* test_train_batch.c — the objectives' loss weights (train/batch.c) against the seed's
 * formulas written out here: pre-training Σ_masked CE/p / (B·L); SFT Σ_masked CE/p /
 * answer_len / B with the prompt never counted; AR mean next-token CE over answer targets.
 * Also: a corpus batch depends only on (seed, step), masks only where xt == mask id, and the
 * crop fraction is respected. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "train/batch.h"
#include "testlib.h"

enum { M = 99 };

static void add(tdata_t *d, const int32_t *x0, const int32_t *xt, int L, int pl, int al, double p) {
    d->recs = realloc(d->recs, sizeof(tmasked_t) * (d->n_recs + 1));
    tmasked_t *m = &d->recs[d->n_recs++];
    m->x0 = malloc(4 * L);
    m->xt = malloc(4 * L);
    memcpy(m->x0, x0, 4 * L);
    memcpy(m->xt, xt, 4 * L);
    m->len = L;
    m->prompt_len = pl;
    m->answer_len = al;
    m->p = p;
}

int main(void) {
    lerr_t e = {0};
    tdata_t d = {0};
    int32_t x0[6] = {1, 2, 3, 4, 5, 6}, xa[6] = {1, M, 3, M, M, 6}, xb[6] = {M, M, 3, 4, M, 6};
    add(&d, x0, xa, 6, 0, 6, 0.25); /* pre-training record */
    add(&d, x0, xb, 6, 2, 4, 0.5);  /* SFT: prompt of 2 (its masks must not count) */
    add(&d, x0, xa, 5, 0, 5, 0.5);  /* a different length: its own batch */
    tplan_t plan;
    CHECK(tplan_make(&plan, &d, 4, &e) == 0 && plan.n == 2, "equal lengths batched together");
    tbatch_cfg_t c = {OBJ_DIFFUSION, 4, 6, {0}};
    noise_cfg_default(&c.noise);
    c.noise.mask_id = M;
    tbatch_t b;
    tbatch_alloc(&b, 64, &e);
    CHECK(tbatch_make(&c, &d, &plan, 0, &b, &e) == 0 && b.B == 2 && b.T == 6, "batch 0 shape");
    int bad = 0;
    for (int i = 0; i < 6; i++) {
        double want0 = xa[i] == M ? 1.0 / (0.25 * 6 * 2) : 0;
        double want1 = (i >= 2 && xb[i] == M) ? 1.0 / (0.5 * 4 * 2) : 0;
        bad += fabs(b.w[i] - want0) > 1e-7 || fabs(b.w[6 + i] - want1) > 1e-7;
        bad += b.ids[i] != xa[i] || b.tgt[i] != x0[i];
    }
    CHECK(!bad && b.n_loss == 4, "diffusion weights 1/(p·answer_len·B) on masked answer positions (n_loss %d)",
          b.n_loss);
    c.objective = OBJ_AR;
    CHECK(tbatch_make(&c, &d, &plan, 0, &b, &e) == 0 && b.T == 5, "AR batch is one shorter");
    bad = 0;
    for (int i = 0; i < 5; i++) {
        bad += b.ids[i] != x0[i] || b.tgt[i] != x0[i + 1];
        bad += fabs(b.w[i] - 1.0 / (5 * 2)) > 1e-7;                        /* all 5 targets */
        bad += fabs(b.w[5 + i] - (i + 1 >= 2 ? 1.0 / (4 * 2) : 0)) > 1e-7; /* answer targets */
    }
    CHECK(!bad, "AR weights: mean next-token CE over answer targets");

    /* corpus mode */
    tdata_t cd = {0};
    cd.n_toks = 1000;
    cd.toks = malloc(4 * 1000);
    for (int i = 0; i < 1000; i++) cd.toks[i] = i % 50;
    tbatch_cfg_t cc = {OBJ_DIFFUSION, 4, 32, {0}};
    noise_cfg_default(&cc.noise);
    cc.noise.mask_id = M;
    cc.noise.seed = 5;
    cc.noise.crop_frac = 0;
    tbatch_t b1, b2;
    tbatch_alloc(&b1, 4 * 32, &e);
    tbatch_alloc(&b2, 4 * 32, &e);
    tbatch_make(&cc, &cd, NULL, 7, &b1, &e);
    tbatch_make(&cc, &cd, NULL, 3, &b2, &e);
    tbatch_make(&cc, &cd, NULL, 7, &b2, &e);
    CHECK(memcmp(b1.ids, b2.ids, 4 * 128) == 0 && memcmp(b1.w, b2.w, 4 * 128) == 0,
          "a step's corpus batch depends only on (seed, step)");
    bad = 0;
    for (int r = 0; r < 4; r++) {
        int nm = 0;
        for (int i = 0; i < 32; i++) nm += b1.ids[r * 32 + i] == M;
        for (int i = 0; i < 32; i++) {
            int k = r * 32 + i;
            if (b1.ids[k] == M) bad += !(b1.w[k] > 0 && b1.w[k] >= 1.0f / (32 * 4) - 1e-9f);
            else bad += b1.w[k] != 0 || b1.ids[k] != b1.tgt[k];
            if (i) bad += b1.tgt[k] != (b1.tgt[k - 1] + 1) % 50; /* a contiguous window */
        }
    }
    CHECK(!bad, "corpus rows: contiguous windows, loss only on masks, weight 1/(p·T·B) >= 1/(T·B)");
    cc.noise.crop_frac = 0.3;
    int cropped = 0, n = 2000;
    for (int s = 0; s < n; s++) {
        tbatch_make(&cc, &cd, NULL, s, &b1, &e);
        cropped += b1.T < 32;
    }
    /* P(cropped) = 0.3 · P(U{1..32} < 32) = 0.3·31/32; 4-sigma band */
    double pc = 0.3 * 31 / 32, sd = sqrt(pc * (1 - pc) / n);
    CHECK(fabs((double)cropped / n - pc) < 4 * sd, "crop fraction %.3f vs %.3f", (double)cropped / n, pc);
    tbatch_free(&b);
    tbatch_free(&b1);
    tbatch_free(&b2);
    tplan_free(&plan);
    tdata_free(&d);
    tdata_free(&cd);
    return TEST_SUMMARY();
}
