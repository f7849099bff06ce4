/* score.c — `denoise --score` and `--logits`: one forward over records, no sampling.
 *
 * --score reads masked records (mask's output) and adds the summed cross-entropy of the
 * clean tokens at the masked positions, the quantity the Monte-Carlo likelihood bound and
 * the training loss are built from (llada.md §1.2). --logits exposes the raw LM-head
 * output of a canvas for inspection and parity tests.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "records.h"

/* -log softmax(l)[y] in double. */
static double xent(const float *l, int V, int y) {
    double mx = -INFINITY, s = 0;
    for (int i = 0; i < V; i++)
        if (l[i] > mx) mx = l[i];
    for (int i = 0; i < V; i++) s += exp((double)l[i] - mx);
    return mx + log(s) - l[y];
}

typedef struct {
    const tensor_t *x0, *xt;
    int64_t prompt_len;
} scored_t;

static int parse_masked(const rec_t *r, const model_t *m, scored_t *s, lerr_t *e) {
    if (!(s->x0 = rec_need_tensor(r, "x0", DT_I32, 1, e)) || !(s->xt = rec_need_tensor(r, "xt", DT_I32, 1, e)))
        return -1;
    if (s->x0->numel != s->xt->numel || s->x0->numel == 0)
        return lerr_set(e, EXIT_DATA, "\"x0\" and \"xt\" must have the same non-zero length");
    if (rec_get_int(r, "prompt_len", &s->prompt_len) == -2 || s->prompt_len < 0)
        return lerr_set(e, EXIT_DATA, "\"prompt_len\" must be a non-negative integer");
    if (s->prompt_len > (int64_t)s->x0->numel)
        return lerr_set(e, EXIT_DATA, "\"prompt_len\" %lld is longer than the sequence (%zu tokens)",
                        (long long)s->prompt_len, s->x0->numel);
    const int32_t *a = s->x0->data, *b = s->xt->data;
    for (size_t i = 0; i < s->x0->numel; i++)
        if (a[i] < 0 || a[i] >= m->cfg.embedding_size || b[i] < 0 || b[i] >= m->cfg.embedding_size)
            return lerr_set(e, EXIT_DATA, "token id outside the model's vocabulary at index %zu", i);
    return 0;
}

enum { SCORE_CHUNK = 128 };

/* Cross-entropy of row j's masked positions, LM head applied SCORE_CHUNK rows at a time. */
static int score_row(const model_t *m, const scored_t *s, const float *hid, int n, int nB, int j, int L,
                     double cfg_scale, double *ce_out, int *nm_out, lerr_t *e) {
    int d = m->cfg.d_model, V = m->cfg.embedding_size, cfg = nB > n;
    const int32_t *x0 = s->x0->data, *xt = s->xt->data;
    float *hc = malloc((size_t)SCORE_CHUNK * d * sizeof *hc), *hu = malloc((size_t)SCORE_CHUNK * d * sizeof *hu);
    float *lc = malloc((size_t)SCORE_CHUNK * V * sizeof *lc);
    float *lu = cfg ? malloc((size_t)SCORE_CHUNK * V * sizeof *lu) : NULL;
    int pos[SCORE_CHUNK], nm = 0;
    double ce = 0;
    if (!hc || !hu || !lc || (cfg && !lu)) {
        free(hc);
        free(hu);
        free(lc);
        free(lu);
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    }
    for (int p0 = 0; p0 < L;) {
        int k = 0;
        for (; p0 < L && k < SCORE_CHUNK; p0++) {
            if (xt[p0] != m->cfg.mask_token_id) continue;
            int hr = model_logits_row(&m->cfg, p0); /* shifted-logits families: row p0-1 */
            memcpy(hc + (size_t)k * d, hid + ((size_t)j * L + hr) * d, (size_t)d * sizeof *hc);
            if (cfg) memcpy(hu + (size_t)k * d, hid + ((size_t)(n + j) * L + hr) * d, (size_t)d * sizeof *hu);
            pos[k++] = p0;
        }
        if (!k) continue;
        model_head(m, hc, k, lc);
        if (cfg) {
            model_head(m, hu, k, lu);
            float s1 = (float)(cfg_scale + 1.0);
            for (size_t i = 0; i < (size_t)k * V; i++) lc[i] = lu[i] + s1 * (lc[i] - lu[i]);
        }
        for (int i = 0; i < k; i++) ce += xent(lc + (size_t)i * V, V, x0[pos[i]]);
        nm += k;
    }
    free(hc);
    free(hu);
    free(lc);
    free(lu);
    *ce_out = ce;
    *nm_out = nm;
    return 0;
}

int score_records(const model_t *m, rec_t **recs, int n, double cfg_scale, lerr_t *e) {
    scored_t *s = calloc((size_t)n, sizeof *s);
    if (!s) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    int rc = -1, L = 0, nB = cfg_scale > 0 ? 2 * n : n, d = m->cfg.d_model;
    int32_t *tok = NULL;
    float *hid = NULL;
    fwd_scratch_t *scr = NULL;
    for (int j = 0; j < n; j++)
        if (parse_masked(recs[j], m, &s[j], e)) goto out;
    L = (int)s[0].xt->numel;
    for (int j = 1; j < n; j++)
        if ((int)s[j].xt->numel != L) {
            lerr_set(e, EXIT_INTERNAL, "score batch of unequal lengths");
            goto out;
        }
    tok = malloc((size_t)nB * L * sizeof *tok);
    hid = malloc((size_t)nB * L * d * sizeof *hid);
    if (!tok || !hid || !(scr = fwd_scratch_new(m, nB, L, e))) {
        if (!scr || !tok) lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto out;
    }
    for (int j = 0; j < n; j++) {
        memcpy(tok + (size_t)j * L, s[j].xt->data, (size_t)L * sizeof *tok);
        if (nB > n)
            for (int p = 0; p < L; p++)
                tok[(size_t)(n + j) * L + p] =
                    p < s[j].prompt_len ? m->cfg.mask_token_id : ((int32_t *)s[j].xt->data)[p];
    }
    if (model_forward_hidden(m, scr, tok, NULL, nB, L, hid, e)) goto out;
    for (int j = 0; j < n; j++) {
        double ce;
        int nm;
        if (score_row(m, &s[j], hid, n, nB, j, L, cfg_scale, &ce, &nm, e)) goto out;
        if (rec_set_f64(recs[j], "ce", ce) || rec_set_int(recs[j], "n_masked", nm)) {
            lerr_set(e, EXIT_INTERNAL, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    fwd_scratch_destroy(&scr);
    free(s);
    free(tok);
    free(hid);
    return rc;
}

int logits_record(const model_t *m, rec_t *r, lerr_t *e) {
    tensor_t *t = rec_need_tensor(r, "tokens", DT_I32, 1, e);
    if (!t) return -1;
    if (t->numel == 0) return lerr_set(e, EXIT_DATA, "\"tokens\" is empty");
    int L = (int)t->numel, V = m->cfg.embedding_size;
    int32_t *tok = malloc((size_t)L * sizeof *tok);
    if (!tok) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    memcpy(tok, t->data, (size_t)L * sizeof *tok);
    int64_t shape[2] = {L, V};
    tensor_t *out = rec_set_tensor(r, "logits", DT_F32, 2, shape);
    int rc =
        !out ? lerr_set(e, EXIT_INTERNAL, "out of memory") : model_forward_logits(m, tok, NULL, 1, L, out->data, e);
    free(tok);
    return rc;
}
