/* test_block_rows.c — the lockstep block forward (model/blockcache.c:
 * model_block_forward_rows) against its plain per-row form (model_block_forward) and the
 * whole-canvas block-causal graph (model_forward_hidden, forward.c): three rows at different
 * positions of their own caches in one pass give each row's hidden states within 1e-5 of
 * both (max |diff| / max |ref|: the GEMMs run over more rows, so only the summation order
 * differs); per-row store flags append only those rows' K/V; bad rows are errors. A random
 * f32 LLaDA-layout model with attn_block = 4 (block-causal attention, the block cache). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testlib.h"
#include "model/family.h"

enum { D = 24, BLK = 4, T = 16, NR = 3 };

static model_t *make_model(lerr_t *e) {
    llada_config_t c;
    llada_config_default(&c);
    c.d_model = D;
    c.n_layers = 2;
    c.n_heads = 6;
    c.n_kv_heads = 2;
    c.head_dim = 4;
    c.mlp_hidden_size = 40;
    c.vocab_size = c.embedding_size = 50;
    c.weight_tying = false;
    c.mask_token_id = 49;
    c.eos_token_id = c.pad_token_id = 47;
    c.eot_token_id = 48;
    c.bos_token_id = 46;
    c.dtype = WT_F32;
    c.attn_block = BLK;
    model_t *m = model_new(&c, e);
    if (!m) return NULL;
    unsigned s = 11;
    wtensor_t *all[3 + 9 * 2] = {&m->w.wte, &m->w.ln_f, &m->w.lm_head};
    int n = 3;
    for (int l = 0; l < c.n_layers; l++) {
        llada_layer_t *L = &m->w.layers[l];
        wtensor_t *t[9] = {&L->attn_norm, &L->q_proj,  &L->k_proj,  &L->v_proj, &L->attn_out,
                           &L->ff_norm,   &L->ff_proj, &L->up_proj, &L->ff_out};
        for (int i = 0; i < 9; i++) all[n++] = t[i];
    }
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < all[i]->rows * all[i]->cols; j++) {
            s = s * 1103515245u + 12345u;
            ((float *)all[i]->data)[j] = ((s >> 8) & 0xffff) / 32768.0f - 1.0f;
        }
    return m;
}

static double rel(const float *a, const float *b, size_t n) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs((double)a[i] - b[i]));
        mr = fmax(mr, fabs((double)b[i]));
    }
    return mr > 0 ? md / mr : md;
}

int main(void) {
    lerr_t e = {0};
    model_t *m = make_model(&e);
    CHECK(m != NULL, "model: %s", e.msg);
    if (!m) return TEST_SUMMARY();
    /* three canvases of T tokens; row r's current block starts at p0[r] (its cache holds the
     * blocks before) */
    int32_t tok[NR][T];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < T; t++) tok[r][t] = (7 * r + 3 * t + t * t) % 49;
    const int p0[NR] = {4, 12, 0}, n[NR] = {BLK, BLK, BLK};
    model_block_cache_t *one[NR] = {0}, *many[NR] = {0};
    float single[NR][BLK * D], full[NR][T * D], batch[NR * BLK * D];
    fwd_scratch_t *fs = fwd_scratch_new(m, 1, T, &e);
    model_block_scratch_t *s = model_block_scratch_new(m, NR * BLK, &e);
    CHECK(fs && s, "scratch: %s", e.msg);
    for (int r = 0; r < NR && fs && s; r++) {
        one[r] = model_block_cache_new(m, T, &e);
        many[r] = model_block_cache_new(m, T, &e);
        CHECK(one[r] && many[r], "caches: %s", e.msg);
        if (!one[r] || !many[r]) goto out;
        if (p0[r]) {
            CHECK(model_block_forward(m, one[r], tok[r], p0[r], 0, true, NULL, &e) == 0, "prefill: %s", e.msg);
            CHECK(model_block_forward(m, many[r], tok[r], p0[r], 0, true, NULL, &e) == 0, "prefill: %s", e.msg);
        }
        CHECK(model_block_forward(m, one[r], tok[r] + p0[r], BLK, p0[r], false, single[r], &e) == 0,
              "single-row step: %s", e.msg);
        CHECK(model_forward_hidden(m, fs, tok[r], NULL, 1, T, full[r], &e) == 0, "full canvas: %s", e.msg);
    }
    if (!fs || !s) goto out;
    const int32_t *tp[NR] = {tok[0] + p0[0], tok[1] + p0[1], tok[2] + p0[2]};
    model_block_cache_t *kc[NR] = {many[0], many[1], many[2]};
    bool st[NR] = {false, false, false};
    CHECK(model_block_forward_rows(m, kc, NR, tp, n, p0, st, s, batch, &e) == 0, "lockstep forward: %s", e.msg);
    for (int r = 0; r < NR; r++) {
        double a = rel(batch + (size_t)r * BLK * D, single[r], BLK * D);
        double b = rel(batch + (size_t)r * BLK * D, full[r] + (size_t)p0[r] * D, BLK * D);
        CHECK(a <= 1e-5 && b <= 1e-5, "row %d (block at %d): lockstep vs single row %.2e, vs whole canvas %.2e <= 1e-5",
              r, p0[r], a, b);
    }
    /* store only row 0's block: row 0 may go on at p0 + BLK, row 1 must not */
    st[0] = true;
    CHECK(model_block_forward_rows(m, kc, NR, tp, n, p0, st, s, NULL, &e) == 0, "store row 0: %s", e.msg);
    float next[BLK * D];
    CHECK(model_block_forward(m, many[0], tok[0] + p0[0] + BLK, BLK, p0[0] + BLK, false, next, &e) == 0 &&
              rel(next, full[0] + (size_t)(p0[0] + BLK) * D, BLK * D) <= 1e-5,
          "row 0 goes on after its stored block: %s", e.msg);
    e = (lerr_t){0};
    CHECK(model_block_forward(m, many[1], tok[1], BLK, p0[1] + BLK, false, next, &e) == -1 && e.code == EXIT_INTERNAL,
          "row 1 (not stored) cannot: %s", e.msg);
    /* errors: more rows than the scratch, a token outside the vocabulary */
    const int big[NR] = {BLK, BLK, 2 * BLK};
    e = (lerr_t){0};
    CHECK(model_block_forward_rows(m, kc, NR, tp, big, (const int[]){p0[0] + BLK, p0[1], p0[2]}, st, s, NULL, &e) ==
                  -1 &&
              e.code == EXIT_INTERNAL && strstr(e.msg, "scratch"),
          "rows beyond the scratch: %s", e.msg);
    int32_t badtok[BLK] = {1, 2, 50, 3};
    const int32_t *bp[1] = {badtok};
    e = (lerr_t){0};
    CHECK(model_block_forward_rows(m, &kc[2], 1, bp, n, &p0[2], st + 1, s, NULL, &e) == -1 && e.code == EXIT_DATA,
          "token outside the vocabulary: %s", e.msg);
out:
    for (int r = 0; r < NR; r++) {
        model_block_cache_destroy(&one[r]);
        model_block_cache_destroy(&many[r]);
    }
    model_block_scratch_destroy(&s);
    fwd_scratch_destroy(&fs);
    model_destroy(&m);
    return TEST_SUMMARY();
}
