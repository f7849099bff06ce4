/* bdsample.c — SDAR's block_diffusion_generate (JetAstra/SDAR generate.py; docs/models.md)
 * for block-diffusion models (model.h: cfg.attn_block), with the remasking decision
 * delegated to a remask policy as in sampler.c.
 *
 * The canvas (prompt + gen_length masks) is extended with masks to whole blocks of
 * attn_block tokens tiled from position 0 (the official canvas; the tail beyond the record's
 * length is generated too, then dropped). Blocks up to the prompt's last full one are
 * context; each later block runs up to D + 1 iterations (D = steps * block / gen_length
 * denoising steps per block, at least 1): stop when the block has no masks, else one forward,
 * summaries of the block's masked rows (sampler_summarise: the token, its softmax
 * probability as confidence, ...) and the policy's choice with quota block // D (+1 for the
 * first block % D steps), capped at the masks left (generate.py's torch.topk would then also
 * pick non-mask positions, in an unspecified order; see docs/models.md). low_confidence is
 * SDAR's low_confidence_static, dynamic:T its low_confidence_dynamic. After a block, the run
 * stops when EOS or EOT appears after the prompt (its stopping_criteria_idx).
 *
 * LLaDA 2.x (docs/models.md) runs the same loop: its generate() is this one with the dynamic
 * policy at threshold 0.95 and `steps` denoising steps per block (D), stopping after a block
 * that holds EOS; with o->eos_early_stop (its eos_early_stop) also right after a step that
 * commits EOS when no mask lies between the prompt and the canvas' first EOS (eos_return).
 * With o->edit (LLaDA 2.1's token editing, edit_block) a block instead loops
 * until settled: each iteration runs one forward, commits masks by the policy with quota 1
 * (generate()'s num_to_transfer) and rewrites every generated (non-prompt, non-mask) token of
 * the block whose argmax differs with confidence > edit_threshold; an iteration that starts
 * with no masks counts a post step, and the block ends when such an iteration edits nothing
 * or the post steps exceed max_post_steps. An edit's reveal step is the step that wrote it.
 *
 * Forward: model_block_forward over the exact cache of the finished blocks (only the current
 * block is computed; model.h), or with o->block_cache_off the whole canvas every step
 * (block-causal attention makes both exact; the reference path of the tests and the bench).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bdsample.h"
#include "crng.h"

typedef struct {
    const model_t *m;
    const sampler_opts_t *o;
    int blk, total, L, P, D;
    int32_t *x, *reveal;
    int *quota;
    fwd_scratch_t *scr;      /* full recompute */
    model_block_cache_t *kv; /* block cache */
    float *hidden, *hc, *lc;
    rm_cand_t *cand, *all;
    int32_t *chosen;
} bd_t;

static void bd_free(bd_t *r) {
    free(r->x);
    free(r->reveal);
    free(r->quota);
    free(r->hidden);
    free(r->hc);
    free(r->lc);
    free(r->cand);
    free(r->all);
    free(r->chosen);
    fwd_scratch_destroy(&r->scr);
    model_block_cache_destroy(&r->kv);
}

/* Hidden states of block rows [s0, s0+blk) into r->hidden (blk rows). */
static int block_hidden(bd_t *r, int s0, bool store, lerr_t *e) {
    const llada_config_t *c = &r->m->cfg;
    if (r->kv) return model_block_forward(r->m, r->kv, r->x + s0, r->blk, s0, store, r->hidden, e);
    if (store) return 0; /* full recompute keeps nothing */
    float *full = malloc((size_t)r->total * c->d_model * sizeof *full);
    if (!full) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    int rc = model_forward_hidden(r->m, r->scr, r->x, NULL, 1, r->total, full, e);
    if (!rc) memcpy(r->hidden, full + (size_t)s0 * c->d_model, (size_t)r->blk * c->d_model * sizeof *full);
    free(full);
    return rc;
}

static bool has_stop(const bd_t *r) {
    const llada_config_t *c = &r->m->cfg;
    for (int p = r->P; p < r->total; p++)
        if (r->x[p] == c->eos_token_id || (c->eot_token_id >= 0 && r->x[p] == c->eot_token_id)) return true;
    return false;
}

/* LLaDA 2.0's eos_early_stop after a step that committed EOS: the canvas' first EOS up to the
 * block end s1, searched from position 0 (the prompt included, as generate() searches cur_x),
 * with no mask between the prompt's end and it. */
static bool eos_return(const bd_t *r, int s1) {
    const llada_config_t *c = &r->m->cfg;
    int first = 0;
    while (first < s1 && r->x[first] != c->eos_token_id) first++;
    if (first == s1) return false;
    for (int p = r->P; p < first; p++)
        if (r->x[p] == c->mask_token_id) return false;
    return true;
}

static void copy_back(const bd_t *r, canvas_batch_t *cb) {
    memcpy(cb->x, r->x, (size_t)r->L * sizeof *cb->x);
    memcpy(cb->reveal, r->reveal, (size_t)r->L * sizeof *cb->reveal);
}

/* After a step: progress, the caller's on_step (which may drop the row: *done = 1). */
static int after_step(bd_t *r, canvas_batch_t *cb, int step, int steps, void (*progress)(int, int, void *), void *arg,
                      bool *done, lerr_t *e) {
    cb->steps_done = step;
    if (progress) progress(step, steps, arg);
    if (!cb->on_step) return 0;
    uint8_t drop = 0;
    copy_back(r, cb);
    if (cb->on_step(cb, step - 1, &drop, cb->on_step_arg, e) < 0) return -1;
    if (drop) {
        cb->B = 0;
        *done = true;
    }
    return 0;
}

/* LLaDA 2.1's block loop with token editing (see the file comment). */
static int edit_block(bd_t *r, rm_policy_t *pol, canvas_batch_t *cb, int b, int nb, int b0, int *step,
                      void (*progress)(int, int, void *), void *arg, bool *done, lerr_t *e) {
    const model_t *m = r->m;
    const llada_config_t *c = &m->cfg;
    int V = c->embedding_size, s0 = b * r->blk, post = 0;
    uint64_t seed = cb->seed ? cb->seed[0] : r->o->seed;
    for (int it = 0;; it++) {
        int n = 0, masked = 0, edits = 0;
        for (int p = 0; p < r->total; p++) masked += r->x[p] == c->mask_token_id;
        for (int j = 0; j < r->blk; j++)
            if (r->x[s0 + j] == c->mask_token_id) n++;
        if (!n) post++;
        if (post > r->o->max_post_steps) break;
        if (block_hidden(r, s0, false, e)) return -1;
        cb->nfe++;
        model_head(m, r->hidden, r->blk, r->lc);
        n = 0;
        for (int j = 0; j < r->blk; j++) {
            int32_t pos = s0 + j;
            sampler_summarise(r->o, c, r->lc + (size_t)j * V, V,
                              crng_prefix(seed, CRNG_GUMBEL, (uint64_t)cb->record[0], (uint64_t)*step, (uint64_t)pos),
                              &r->all[j]);
            r->all[j].pos = pos;
            if (r->x[pos] == c->mask_token_id) r->cand[n++] = r->all[j];
        }
        if (sampler_cands_ok(r->all, r->blk, e)) return -1;
        int k = 0;
        if (n) {
            rm_state_t st = {.seed = seed,
                             .record = cb->record[0],
                             .step = *step,
                             .steps = (nb - b0) * r->blk,
                             .block = b,
                             .n_blocks = nb,
                             .block_step = it,
                             .steps_per_block = r->blk,
                             .block_start = s0,
                             .block_end = s0 + r->blk,
                             .prompt_len = r->P,
                             .canvas_len = r->total,
                             .n_masked = masked,
                             .n_commit = 1};
            if ((k = rm_policy_select(pol, &st, r->cand, n, r->chosen, e)) < 0) return -1;
            if (k == 0) return lerr_set(e, EXIT_PEER, "remask policy committed no position of a block with masks");
        }
        /* T2T on the tokens as this step's forward saw them, before the M2T commits */
        for (int j = 0; j < r->blk; j++) {
            int32_t pos = s0 + j;
            if (pos < r->P || r->x[pos] == c->mask_token_id) continue;
            if (r->all[j].conf > r->o->edit_threshold && r->all[j].token != r->x[pos]) {
                r->x[pos] = r->all[j].token;
                r->reveal[pos] = *step;
                edits++;
            }
        }
        for (int q = 0; q < k; q++) {
            int ci = -1;
            for (int t = 0; t < n; t++)
                if (r->cand[t].pos == r->chosen[q]) ci = t;
            if (ci < 0)
                return lerr_set(e, EXIT_PEER, "remask policy chose position %d, which is not a candidate",
                                r->chosen[q]);
            r->x[r->chosen[q]] = r->cand[ci].token;
            r->reveal[r->chosen[q]] = *step;
        }
        ++*step;
        if (after_step(r, cb, *step, (nb - b0) * r->blk, progress, arg, done, e)) return -1;
        if (*done) return 0;
        if (!n && !edits) break;
    }
    return block_hidden(r, s0, true, e); /* the settled block's K/V enter the cache */
}

/* One unpadded row (cb->B == 1, cb->pad[0] == 0): the whole reverse process of its record. */
static int run_row(const model_t *m, rm_policy_t *pol, const sampler_opts_t *o, canvas_batch_t *cb,
                   void (*progress)(int step, int steps, void *arg), void *arg, lerr_t *e) {
    const llada_config_t *c = &m->cfg;
    bd_t r = {.m = m, .o = o, .blk = c->attn_block, .L = cb->L, .P = cb->L - o->gen_length};
    r.total = (r.L + r.blk - 1) / r.blk * r.blk;
    r.D = (int)((long long)o->steps * r.blk / o->gen_length);
    if (r.D < 1) r.D = 1;
    int V = c->embedding_size, d = c->d_model, rc = -1, step = 0, nb = r.total / r.blk, b0 = r.P / r.blk;
    r.x = malloc((size_t)r.total * sizeof *r.x);
    r.reveal = malloc((size_t)r.total * sizeof *r.reveal);
    r.quota = malloc((size_t)r.D * sizeof *r.quota);
    r.hidden = malloc((size_t)r.blk * d * sizeof *r.hidden);
    r.hc = malloc((size_t)r.blk * d * sizeof *r.hc);
    r.lc = malloc((size_t)r.blk * V * sizeof *r.lc);
    r.cand = malloc((size_t)r.blk * sizeof *r.cand);
    r.all = malloc((size_t)r.blk * sizeof *r.all);
    r.chosen = malloc((size_t)r.blk * sizeof *r.chosen);
    if (!r.x || !r.reveal || !r.quota || !r.hidden || !r.hc || !r.lc || !r.cand || !r.all || !r.chosen) {
        lerr_set(e, EXIT_INTERNAL, "out of memory for a canvas of %d tokens", r.total);
        goto out;
    }
    if (o->block_cache_off ? !(r.scr = fwd_scratch_new(m, 1, r.total, e))
                           : !(r.kv = model_block_cache_new(m, r.total, e)))
        goto out;
    for (int p = 0; p < r.total; p++) {
        r.x[p] = p < r.L ? cb->x[p] : c->mask_token_id;
        r.reveal[p] = -1;
    }
    for (int i = 0; i < r.D; i++) r.quota[i] = r.blk / r.D + (i < r.blk % r.D);
    cb->nfe = 0;
    cb->steps_done = 0;
    if (r.kv && b0 > 0 && model_block_forward(m, r.kv, r.x, b0 * r.blk, 0, true, NULL, e)) goto out; /* prefill */
    for (int b = b0; b < nb; b++) {
        int s0 = b * r.blk;
        if (o->edit) {
            bool done = false;
            if (edit_block(&r, pol, cb, b, nb, b0, &step, progress, arg, &done, e)) goto out;
            if (done) {
                rc = 0;
                goto out;
            }
            if (has_stop(&r)) break;
            continue;
        }
        for (int i = 0; i <= r.D; i++) {
            int n = 0, masked = 0;
            for (int p = 0; p < r.total; p++) masked += r.x[p] == c->mask_token_id;
            for (int j = 0; j < r.blk; j++)
                if (r.x[s0 + j] == c->mask_token_id) r.cand[n++].pos = s0 + j;
            if (!n || i == r.D) { /* block done: its K/V enter the cache */
                if (block_hidden(&r, s0, true, e)) goto out;
                break;
            }
            if (block_hidden(&r, s0, false, e)) goto out;
            cb->nfe++;
            for (int k = 0; k < n; k++)
                memcpy(r.hc + (size_t)k * d, r.hidden + (size_t)(r.cand[k].pos - s0) * d, (size_t)d * sizeof *r.hc);
            model_head(m, r.hc, n, r.lc);
            uint64_t seed = cb->seed ? cb->seed[0] : o->seed;
            for (int k = 0; k < n; k++) {
                int32_t pos = r.cand[k].pos;
                sampler_summarise(
                    o, c, r.lc + (size_t)k * V, V,
                    crng_prefix(seed, CRNG_GUMBEL, (uint64_t)cb->record[0], (uint64_t)step, (uint64_t)pos), &r.cand[k]);
                r.cand[k].pos = pos;
            }
            if (sampler_cands_ok(r.cand, n, e)) goto out;
            rm_state_t st = {.seed = seed,
                             .record = cb->record[0],
                             .step = step,
                             .steps = (nb - b0) * r.D,
                             .block = b,
                             .n_blocks = nb,
                             .block_step = i,
                             .steps_per_block = r.D,
                             .block_start = s0,
                             .block_end = s0 + r.blk,
                             .prompt_len = r.P,
                             .canvas_len = r.total,
                             .n_masked = masked,
                             .n_commit = r.quota[i] < n ? r.quota[i] : n};
            int k = rm_policy_select(pol, &st, r.cand, n, r.chosen, e);
            bool eos_hit = false;
            if (k < 0) goto out;
            for (int q = 0; q < k; q++) {
                int ci = -1;
                for (int t = 0; t < n; t++)
                    if (r.cand[t].pos == r.chosen[q]) ci = t;
                if (ci < 0) {
                    lerr_set(e, EXIT_PEER, "remask policy chose position %d, which is not a candidate", r.chosen[q]);
                    goto out;
                }
                r.x[r.chosen[q]] = r.cand[ci].token;
                r.reveal[r.chosen[q]] = step;
                eos_hit |= r.cand[ci].token == c->eos_token_id;
            }
            step++;
            bool done = false;
            if (after_step(&r, cb, step, (nb - b0) * r.D, progress, arg, &done, e)) goto out;
            if (done) {
                rc = 0;
                goto out;
            }
            if (o->eos_early_stop && eos_hit && eos_return(&r, s0 + r.blk)) goto finish;
        }
        if (has_stop(&r)) break;
    }
finish:
    copy_back(&r, cb);
    rc = 0;
out:
    bd_free(&r);
    return rc;
}

/* The batch as rows run one after another (see bdsample.h). `sub` is the current row seen as
 * a batch of one: its x and reveal alias the row's unpadded part in the caller's canvas. */
typedef struct {
    canvas_batch_t *cb, sub;
    int row; /* the current row's index in cb (moves down as earlier rows drop) */
    bool row_dropped;
    uint8_t *drop; /* [cb->B] scratch for the caller's on_step */
} seq_t;

/* Remove the rows of cb marked in drop, keeping the others' order (sampler.h's on_step). */
static void compact(seq_t *s) {
    canvas_batch_t *cb = s->cb;
    int k = 0, row = s->row;
    size_t L = (size_t)cb->L;
    for (int j = 0; j < cb->B; j++) {
        if (s->drop[j]) {
            if (j == s->row) s->row_dropped = true;
            if (j < s->row) row--;
            continue;
        }
        if (k != j) {
            memmove(cb->x + k * L, cb->x + j * L, L * sizeof *cb->x);
            memmove(cb->reveal + k * L, cb->reveal + j * L, L * sizeof *cb->reveal);
            cb->pad[k] = cb->pad[j];
            cb->record[k] = cb->record[j];
            if (cb->seed) cb->seed[k] = cb->seed[j];
            if (cb->row_nfe) cb->row_nfe[k] = cb->row_nfe[j];
        }
        k++;
    }
    memset(s->drop, 0, (size_t)cb->B);
    cb->B = k;
    s->row = row;
}

/* Point the single-row view at row s->row of the caller's canvas. */
static void aim(seq_t *s) {
    canvas_batch_t *cb = s->cb;
    size_t off = (size_t)s->row * cb->L + cb->pad[s->row];
    s->sub.x = cb->x + off;
    s->sub.reveal = cb->reveal + off;
    s->sub.record = cb->record + s->row;
    s->sub.seed = cb->seed ? cb->seed + s->row : NULL;
}

/* The row's on_step: the caller sees its whole batch (this row's canvas already copied back). */
static int seq_step(canvas_batch_t *sub, int step, uint8_t *drop, void *arg, lerr_t *e) {
    seq_t *s = arg;
    canvas_batch_t *cb = s->cb;
    if (cb->on_step(cb, step, s->drop, cb->on_step_arg, e) < 0) return -1;
    compact(s);
    if (s->row_dropped) {
        drop[0] = 1;
        return 0;
    }
    aim(s);
    (void)sub;
    return 0;
}

int bd_sampler_run(const model_t *m, rm_policy_t *pol, const sampler_opts_t *o, canvas_batch_t *cb,
                   void (*progress)(int step, int steps, void *arg), void *arg, lerr_t *e) {
    if (o->cfg_scale > 0 || o->backend)
        return lerr_set(e, EXIT_USAGE, "block-diffusion models run on the CPU without --cfg");
    if (o->alg_temp > 0)
        return lerr_set(e, EXIT_USAGE, "--alg-temp is Dream's position sampling; block-diffusion models rank");
    if (o->eos_early_stop && o->edit)
        return lerr_set(e, EXIT_USAGE, "--eos-early-stop is LLaDA 2.0's mid-block return; with --edit-threshold "
                                       "(2.1) a block stops the run after it settles");
    int zero = 0, rc = 0;
    seq_t s = {.cb = cb, .drop = calloc((size_t)cb->B + 1, 1)};
    if (!s.drop) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    for (size_t i = 0; i < (size_t)cb->B * cb->L; i++) cb->reveal[i] = -1;
    cb->nfe = 0;
    cb->steps_done = 0;
    for (s.row = 0; s.row < cb->B;) {
        s.row_dropped = false;
        s.sub = (canvas_batch_t){.B = 1, .L = cb->L - cb->pad[s.row]};
        aim(&s);
        s.sub.pad = &zero;
        if (cb->on_step) {
            s.sub.on_step = seq_step;
            s.sub.on_step_arg = &s;
        }
        if ((rc = run_row(m, pol, o, &s.sub, progress, arg, e))) break;
        if (s.row_dropped) continue; /* the rows after it moved down to s.row */
        if (cb->row_nfe) cb->row_nfe[s.row] = s.sub.nfe;
        cb->nfe += s.sub.nfe;
        if (s.sub.steps_done > cb->steps_done) cb->steps_done = s.sub.steps_done;
        s.row++;
    }
    free(s.drop);
    return rc;
}
