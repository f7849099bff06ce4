/* records.c — glue between records and the sampler / forward pass (see records.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "records.h"

int rec_canvas_parse(const rec_t *r, const model_t *m, int gen_length, rec_canvas_t *out, lerr_t *e) {
    tensor_t *t = rec_need_tensor(r, "tokens", DT_I32, 1, e);
    if (!t) return -1;
    *out = (rec_canvas_t){.tok = t->data, .n = (int)t->numel};
    if (t->numel > (1u << 24)) return lerr_set(e, EXIT_DATA, "\"tokens\" has %zu entries (limit 16M)", t->numel);
    for (int i = 0; i < out->n; i++)
        if (out->tok[i] < 0 || out->tok[i] >= m->cfg.embedding_size)
            return lerr_set(e, EXIT_DATA, "token id %d at index %d outside the model's vocabulary [0, %d)", out->tok[i],
                            i, m->cfg.embedding_size);
    if (rec_kind_is(r, "canvas")) {
        int64_t pl;
        if (rec_get_int(r, "prompt_len", &pl) != 0 || pl < 0 || pl > out->n)
            return lerr_set(e, EXIT_DATA, "canvas record needs \"prompt_len\" in [0, %d]", out->n);
        /* Masks written inside the prompt are infilled too: the generation region starts at
         * the first mask (tokens after it that are not masks stay fixed), so every mask of
         * a canvas counts in the block quotas and is filled (the contract of "canvas"). */
        int first = (int)pl;
        for (int i = 0; i < (int)pl; i++)
            if (out->tok[i] == m->cfg.mask_token_id) {
                first = i;
                break;
            }
        out->canvas = true;
        out->prompt_len = first;
        out->gen = out->n - first;
    } else {
        out->prompt_len = out->n;
        out->gen = gen_length;
    }
    return 0;
}

void canvas_batch_free(canvas_batch_t *cb) {
    free(cb->x);
    free(cb->pad);
    free(cb->record);
    free(cb->reveal);
    free(cb->row_nfe);
    memset(cb, 0, sizeof *cb);
}

int canvas_batch_build(canvas_batch_t *cb, const rec_canvas_t *rc, const int64_t *rec_idx, int n, const model_t *m,
                       lerr_t *e) {
    int lp = 0;
    for (int j = 0; j < n; j++)
        if (rc[j].prompt_len > lp) lp = rc[j].prompt_len;
    memset(cb, 0, sizeof *cb);
    cb->B = n;
    cb->L = lp + rc[0].gen;
    size_t BL = (size_t)n * cb->L;
    cb->x = malloc(BL * sizeof *cb->x);
    cb->reveal = malloc(BL * sizeof *cb->reveal);
    cb->pad = malloc((size_t)n * sizeof *cb->pad);
    cb->record = malloc((size_t)n * sizeof *cb->record);
    cb->row_nfe = malloc((size_t)n * sizeof *cb->row_nfe);
    if (!cb->x || !cb->reveal || !cb->pad || !cb->record || !cb->row_nfe) {
        canvas_batch_free(cb);
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    }
    for (int j = 0; j < n; j++) {
        int32_t *row = cb->x + (size_t)j * cb->L;
        int pad = lp - rc[j].prompt_len;
        cb->pad[j] = pad;
        cb->record[j] = rec_idx[j];
        cb->row_nfe[j] = 0;
        for (int p = 0; p < pad; p++) row[p] = m->cfg.pad_token_id;
        memcpy(row + pad, rc[j].tok, (size_t)rc[j].prompt_len * sizeof *row);
        if (rc[j].canvas) memcpy(row + lp, rc[j].tok + rc[j].prompt_len, (size_t)rc[j].gen * sizeof *row);
        else
            for (int p = lp; p < cb->L; p++) row[p] = m->cfg.mask_token_id;
    }
    return 0;
}

int canvas_batch_result(const canvas_batch_t *cb, int j, const rec_canvas_t *rc, rec_t *r, lerr_t *e) {
    const int32_t *row = cb->x + (size_t)j * cb->L, *rev = cb->reveal + (size_t)j * cb->L;
    int lp = cb->L - rc->gen, pad = cb->pad[j];
    int32_t *prompt = malloc(((size_t)rc->prompt_len + 1) * sizeof *prompt);
    if (!prompt) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    memcpy(prompt, row + pad, (size_t)rc->prompt_len * sizeof *prompt);
    int bad = !rec_set_i32(r, "prompt", prompt, (size_t)rc->prompt_len) ||
              !rec_set_i32(r, "tokens", row + lp, (size_t)rc->gen) ||
              !rec_set_i32(r, "reveal_step", rev + lp, (size_t)rc->gen) ||
              rec_set_int(r, "nfe", cb->row_nfe ? cb->row_nfe[j] : cb->nfe) || rec_set_str(r, "kind", "tokens");
    free(prompt);
    if (rc->canvas) rec_del(r, "prompt_len");
    return bad ? lerr_set(e, EXIT_INTERNAL, "out of memory") : 0;
}
