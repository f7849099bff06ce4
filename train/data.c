/* data.c — loading training records into memory (see data.h). */
#include <stdlib.h>
#include <string.h>
#include "data.h"

static int push_toks(tdata_t *d, const int32_t *t, size_t n) {
    if (d->n_toks + n > d->cap_toks) {
        size_t cap = d->cap_toks ? d->cap_toks : 1 << 16;
        while (cap < d->n_toks + n) cap *= 2;
        int32_t *p = realloc(d->toks, cap * sizeof(int32_t));
        if (!p) return -1;
        d->toks = p;
        d->cap_toks = cap;
    }
    memcpy(d->toks + d->n_toks, t, n * sizeof(int32_t));
    d->n_toks += n;
    return 0;
}

/* xt of a record: the "xt" field, or x0 with mask_id where the "mask" bitmap (mask --bitmap:
 * bit i of byte i/8, little bit order) is set. Returns a malloc'd copy or NULL with e set. */
static int32_t *get_xt(const rec_t *r, const tensor_t *x0, int32_t mask_id, size_t idx, lerr_t *e) {
    size_t n = x0->numel;
    int32_t *xt = malloc(n * sizeof(int32_t));
    if (!xt) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    tensor_t *t = rec_tensor(r, "xt"), *bm;
    if (t && t->dtype == DT_I32 && t->ndim == 1 && t->numel == n) {
        memcpy(xt, t->data, n * sizeof(int32_t));
        return xt;
    }
    if (!t && (bm = rec_tensor(r, "mask")) && bm->dtype == DT_U8 && bm->numel == (n + 7) / 8) {
        const uint8_t *b = bm->data;
        const int32_t *x = x0->data;
        for (size_t i = 0; i < n; i++) xt[i] = (b[i / 8] >> (i % 8)) & 1 ? mask_id : x[i];
        return xt;
    }
    free(xt);
    lerr_set(e, EXIT_DATA, "record %zu: needs \"xt\" (i4, the length of x0) or a \"mask\" bitmap", idx);
    return NULL;
}

static int add_masked(tdata_t *d, const rec_t *r, size_t idx, lerr_t *e) {
    tensor_t *x0 = rec_need_tensor(r, "x0", DT_I32, 1, e);
    if (!x0) return lerr_wrap(e, "record %zu", idx);
    int64_t pl = 0, al = -1;
    double p;
    if (x0->numel < 2 || x0->numel > (1 << 20))
        return lerr_set(e, EXIT_DATA, "record %zu: x0 must have 2 to 2^20 tokens", idx);
    if (rec_get_f64(r, "p", &p) != 0 || !(p > 0 && p <= 1))
        return lerr_set(e, EXIT_DATA, "record %zu: \"p\" must be a number in (0, 1]", idx);
    int rc1 = rec_get_int(r, "prompt_len", &pl), rc2 = rec_get_int(r, "answer_len", &al);
    if (rc1 == -2 || rc2 == -2 || pl < 0 || (size_t)pl >= x0->numel)
        return lerr_set(e, EXIT_DATA, "record %zu: bad \"prompt_len\"/\"answer_len\"", idx);
    if (rc2 != 0) al = (int64_t)x0->numel - pl;
    if (al < 1) return lerr_set(e, EXIT_DATA, "record %zu: \"answer_len\" must be >= 1", idx);
    if (d->n_recs == d->cap_recs) {
        size_t cap = d->cap_recs ? 2 * d->cap_recs : 256;
        tmasked_t *q = realloc(d->recs, cap * sizeof(*q));
        if (!q) return lerr_set(e, EXIT_INTERNAL, "out of memory");
        d->recs = q;
        d->cap_recs = cap;
    }
    tmasked_t m = {malloc(x0->nbytes), NULL, (int)x0->numel, (int)pl, (int)al, p};
    if (!m.x0) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    if (!(m.xt = get_xt(r, x0, d->mask_id, idx, e))) {
        free(m.x0);
        return -1;
    }
    memcpy(m.x0, x0->data, x0->nbytes);
    d->recs[d->n_recs++] = m;
    return 0;
}

int tdata_read(tdata_t *d, rstream_t *in, int32_t sep, lerr_t *e) {
    rec_t *r = NULL;
    int rc;
    while ((rc = rstream_read(in, &r, e)) == 1) {
        size_t idx = d->n_records++;
        int bad = 0;
        if (rec_kind_is(r, "tokens")) {
            tensor_t *t = rec_need_tensor(r, "tokens", DT_I32, 1, e);
            if (!t) bad = lerr_wrap(e, "record %zu", idx);
            else if (d->n_recs)
                bad = lerr_set(e, EXIT_DATA, "record %zu: tokens records mixed with masked records", idx);
            else if (push_toks(d, t->data, t->numel) || (sep >= 0 && push_toks(d, &sep, 1)))
                bad = lerr_set(e, EXIT_INTERNAL, "out of memory");
        } else if (rec_kind_is(r, "masked")) {
            if (d->n_toks) bad = lerr_set(e, EXIT_DATA, "record %zu: masked records mixed with tokens records", idx);
            else bad = add_masked(d, r, idx, e);
        } else {
            bad = lerr_set(e, EXIT_DATA, "record %zu: expected kind \"tokens\" or \"masked\"", idx);
        }
        rec_destroy(&r);
        if (bad) return -1;
    }
    return rc < 0 ? -1 : 0;
}

int32_t tdata_max_id(const tdata_t *d) {
    int32_t mx = -1;
    for (size_t i = 0; i < d->n_toks; i++) mx = d->toks[i] > mx ? d->toks[i] : mx;
    for (size_t r = 0; r < d->n_recs; r++)
        for (int i = 0; i < d->recs[r].len; i++) {
            mx = d->recs[r].x0[i] > mx ? d->recs[r].x0[i] : mx;
            mx = d->recs[r].xt[i] > mx ? d->recs[r].xt[i] : mx;
        }
    return mx;
}

void tdata_free(tdata_t *d) {
    for (size_t r = 0; r < d->n_recs; r++) {
        free(d->recs[r].x0);
        free(d->recs[r].xt);
    }
    free(d->recs);
    free(d->toks);
    memset(d, 0, sizeof(*d));
}
