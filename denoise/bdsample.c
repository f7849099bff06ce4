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
 * With o->edit (LLaDA 2.1's token editing) a block instead loops until settled: each
 * iteration runs one forward, commits masks by the policy with quota 1 (generate()'s
 * num_to_transfer) and rewrites every generated (non-prompt, non-mask) token of the block
 * whose argmax differs with confidence > edit_threshold; an iteration that starts with no
 * masks counts a post step, and the block ends when such an iteration edits nothing or the
 * post steps exceed max_post_steps. An edit's reveal step is the step that wrote it.
 *
 * Batches run in lockstep: every row keeps its own canvas (unpadded, its own block tiling and
 * stop), step counter and block cache; the prompts' blocks enter the caches in shared
 * forwards (prefill), and each tick does, for all rows at once, the cache
 * appends of rows whose block ended (one model_block_forward_rows with store), then one
 * forward over the current block of every unfinished row (model_block_forward_rows), one LM
 * head over all their candidate rows, and each row's own choice and commits. A row's draws
 * are keyed by its record and its own step, so it samples what it samples alone (`--batch
 * 1`); rows that finish stop taking part.
 *
 * Forward: the exact cache of the finished blocks (only the current block is computed;
 * model.h), or with o->block_cache_off the whole canvas of each row every step
 * (block-causal attention makes both exact; the reference path of the tests and the bench).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bdsample.h"
#include "crng.h"

enum { NEED_STEP, NEED_STORE, NEED_DONE };

/* One row of the batch: its canvas and where its reverse process stands. */
typedef struct {
    int L, P, total, nb, b0, D;
    int32_t *x, *reveal;     /* [total] */
    int *quota;              /* [D] */
    fwd_scratch_t *scr;      /* full recompute */
    float *full;             /* full recompute: [total][d] hidden states */
    model_block_cache_t *kv; /* block cache */
    rm_cand_t *cand, *all;   /* [blk] */
    int32_t *chosen;         /* [blk] */
    int64_t record;
    uint64_t seed;
    int b, i, post, step, nfe; /* block, step in it, post steps (edit), own step, forwards */
    int n0;                    /* edit: masks of the block when the iteration started */
    int need;                  /* NEED_* */
    int ho;                    /* this tick: first row of its block in the shared hidden */
    int filled;                /* prompt tokens in the cache so far (prefill) */
} row_t;

typedef struct {
    const model_t *m;
    const sampler_opts_t *o;
    rm_policy_t *pol;
    canvas_batch_t *cb;
    int blk, B; /* B: rows in rows[] (= cb->B) */
    row_t *rows;
    model_block_scratch_t *scr;
    float *hidden, *hc, *lc; /* [B*blk][d], [H][d], [H][V]; H = min(B*blk, HEAD_ROWS) */
    model_block_cache_t **kcs;
    const int32_t **toks;
    int *nn, *pp;
    bool *st;
    rm_cand_t **dst; /* head rows of a tick: where each summary goes */
    int *hrow;       /* [B*blk] their hidden row, */
    int *owner;      /* their batch row */
    uint8_t *drop;
} bd_t;

/* LM-head rows per call: bounds the logits buffer for large batches and vocabularies. */
#define HEAD_ROWS 128
/* Prompt tokens per lockstep prefill forward (at least one tick's rows): bounds its scratch. */
#define PREFILL_ROWS 1024

static void row_free(row_t *r) {
    free(r->x);
    free(r->reveal);
    free(r->quota);
    free(r->full);
    free(r->cand);
    free(r->all);
    free(r->chosen);
    fwd_scratch_destroy(&r->scr);
    model_block_cache_destroy(&r->kv);
    memset(r, 0, sizeof *r);
}

static void bd_free(bd_t *s) {
    for (int j = 0; j < s->B; j++) row_free(&s->rows[j]);
    free(s->rows);
    model_block_scratch_destroy(&s->scr);
    free(s->hidden);
    free(s->hc);
    free(s->lc);
    free(s->kcs);
    free(s->toks);
    free(s->nn);
    free(s->pp);
    free(s->st);
    free(s->dst);
    free(s->hrow);
    free(s->owner);
    free(s->drop);
}

static int masks_in(const bd_t *s, const row_t *r, int p0, int p1) {
    int n = 0, mask = s->m->cfg.mask_token_id;
    for (int p = p0; p < p1; p++) n += r->x[p] == mask;
    return n;
}

static bool has_stop(const bd_t *s, const row_t *r) {
    const llada_config_t *c = &s->m->cfg;
    for (int p = r->P; p < r->total; p++)
        if (r->x[p] == c->eos_token_id || (c->eot_token_id >= 0 && r->x[p] == c->eot_token_id)) return true;
    return false;
}

/* LLaDA 2.0's eos_early_stop after a step that committed EOS: the canvas' first EOS up to the
 * block end s1, searched from position 0 (the prompt included, as generate() searches cur_x),
 * with no mask between the prompt's end and it. */
static bool eos_return(const bd_t *s, const row_t *r, int s1) {
    const llada_config_t *c = &s->m->cfg;
    int first = 0;
    while (first < s1 && r->x[first] != c->eos_token_id) first++;
    return first < s1 && masks_in(s, r, r->P, first) == 0;
}

/* What the row does next in its block: a step, or end the block (NEED_STORE). */
static void plan(bd_t *s, row_t *r) {
    int s0 = r->b * s->blk, n = masks_in(s, r, s0, s0 + s->blk);
    if (!s->o->edit) {
        r->need = !n || r->i == r->D ? NEED_STORE : NEED_STEP;
        return;
    }
    if (!n) r->post++;
    r->n0 = n;
    r->need = r->post > s->o->max_post_steps ? NEED_STORE : NEED_STEP;
}

/* The row's block has ended (its K/V are in the cache when the row goes on): stop after a
 * block holding EOS / EOT or after the last block, else the next block. */
static void next_block(bd_t *s, row_t *r) {
    if (has_stop(s, r) || r->b + 1 >= r->nb) {
        r->need = NEED_DONE;
        return;
    }
    r->b++;
    r->i = r->post = 0;
    plan(s, r);
}

/* Row j of the caller's batch: its canvas, cache (empty: prefill fills it) and first plan. */
static int row_init(bd_t *s, int j, lerr_t *e) {
    const model_t *m = s->m;
    const sampler_opts_t *o = s->o;
    canvas_batch_t *cb = s->cb;
    const llada_config_t *c = &m->cfg;
    row_t *r = &s->rows[j];
    int blk = s->blk, d = c->d_model;
    r->L = cb->L - cb->pad[j];
    r->P = r->L - o->gen_length;
    r->total = (r->L + blk - 1) / blk * blk;
    r->nb = r->total / blk;
    r->b0 = r->b = r->P / blk;
    r->D = (int)((long long)o->steps * blk / o->gen_length);
    if (r->D < 1) r->D = 1;
    r->record = cb->record[j];
    r->seed = cb->seed ? cb->seed[j] : o->seed;
    r->x = malloc((size_t)r->total * sizeof *r->x);
    r->reveal = malloc((size_t)r->total * sizeof *r->reveal);
    r->quota = malloc((size_t)r->D * sizeof *r->quota);
    r->cand = malloc((size_t)blk * sizeof *r->cand);
    r->all = malloc((size_t)blk * sizeof *r->all);
    r->chosen = malloc((size_t)blk * sizeof *r->chosen);
    if (!r->x || !r->reveal || !r->quota || !r->cand || !r->all || !r->chosen)
        return lerr_set(e, EXIT_INTERNAL, "out of memory for a canvas of %d tokens", r->total);
    if (o->block_cache_off) {
        if (!(r->scr = fwd_scratch_new(m, 1, r->total, e))) return -1;
        if (!(r->full = malloc((size_t)r->total * d * sizeof *r->full)))
            return lerr_set(e, EXIT_INTERNAL, "out of memory for a canvas of %d tokens", r->total);
    } else if (!(r->kv = model_block_cache_new(m, r->total, e)))
        return -1;
    const int32_t *src = cb->x + (size_t)j * cb->L + cb->pad[j];
    for (int p = 0; p < r->total; p++) {
        r->x[p] = p < r->L ? src[p] : c->mask_token_id;
        r->reveal[p] = -1;
    }
    for (int i = 0; i < r->D; i++) r->quota[i] = blk / r->D + (i < blk % r->D);
    plan(s, r);
    return 0;
}

/* Every row's prompt blocks (those before its first generated block) into its cache, the rows
 * together in lockstep forwards (model_block_forward_rows, store) of at most PREFILL_ROWS
 * tokens or one tick's rows, whichever is more: the weights are read once per forward for all
 * rows, not once per row. A long prompt is split at block boundaries over several forwards
 * (exact: each piece follows the cached blocks before it). */
static int prefill(bd_t *s, lerr_t *e) {
    int blk = s->blk, cap = PREFILL_ROWS / blk * blk, total = 0;
    if (cap < s->B * blk) cap = s->B * blk;
    for (int j = 0; j < s->B; j++)
        if (s->rows[j].kv) total += s->rows[j].b0 * blk;
    if (!total) return 0;
    if (cap > total) cap = total;
    model_block_scratch_t *scr = cap <= s->B * blk ? s->scr : model_block_scratch_new(s->m, cap, e);
    if (!scr) return -1;
    int rc = 0;
    for (int done = 0; done < total && !rc;) {
        int k = 0, used = 0;
        for (int j = 0; j < s->B && used + blk <= cap; j++) {
            row_t *r = &s->rows[j];
            int left = r->kv ? r->b0 * blk - r->filled : 0;
            if (left <= 0) continue;
            int n = left < (cap - used) / blk * blk ? left : (cap - used) / blk * blk;
            s->kcs[k] = r->kv;
            s->toks[k] = r->x + r->filled;
            s->nn[k] = n;
            s->pp[k] = r->filled;
            s->st[k] = true;
            s->owner[k++] = j;
            used += n;
        }
        rc = model_block_forward_rows(s->m, s->kcs, k, s->toks, s->nn, s->pp, s->st, scr, NULL, e);
        for (int q = 0; q < k && !rc; q++) s->rows[s->owner[q]].filled += s->nn[q];
        done += used;
    }
    if (scr != s->scr) model_block_scratch_destroy(&scr);
    return rc;
}

/* Back into the caller's canvas: row j's unpadded part. */
static void copy_back(bd_t *s, int j) {
    canvas_batch_t *cb = s->cb;
    const row_t *r = &s->rows[j];
    size_t off = (size_t)j * cb->L + cb->pad[j];
    memcpy(cb->x + off, r->x, (size_t)r->L * sizeof *cb->x);
    memcpy(cb->reveal + off, r->reveal, (size_t)r->L * sizeof *cb->reveal);
}

/* End the blocks of rows that need it: rows that go on append their block's K/V (one forward
 * for all of them), then plan their next block, which may end at once (a canvas record's
 * block with no masks): repeat until every row steps or is done. */
static int end_blocks(bd_t *s, lerr_t *e) {
    for (;;) {
        int k = 0;
        for (int j = 0; j < s->B; j++) {
            row_t *r = &s->rows[j];
            if (r->need != NEED_STORE) continue;
            if (has_stop(s, r) || r->b + 1 >= r->nb) {
                r->need = NEED_DONE;
                continue;
            }
            if (!r->kv) { /* full recompute keeps nothing */
                next_block(s, r);
                continue;
            }
            s->kcs[k] = r->kv;
            s->toks[k] = r->x + (size_t)r->b * s->blk;
            s->nn[k] = s->blk;
            s->pp[k] = r->b * s->blk;
            s->st[k] = true;
            s->owner[k++] = j;
        }
        if (!k) {
            bool again = false;
            for (int j = 0; j < s->B; j++) again |= s->rows[j].need == NEED_STORE;
            if (!again) return 0;
            continue;
        }
        if (model_block_forward_rows(s->m, s->kcs, k, s->toks, s->nn, s->pp, s->st, s->scr, NULL, e)) return -1;
        for (int q = 0; q < k; q++) next_block(s, &s->rows[s->owner[q]]);
    }
}

/* One forward over the current block of every stepping row: hidden rows in s->hidden, row j's
 * from rows[j].ho. Returns the number of stepping rows. */
static int forward_step(bd_t *s, lerr_t *e) {
    const int d = s->m->cfg.d_model, blk = s->blk;
    int k = 0;
    for (int j = 0; j < s->B; j++) {
        row_t *r = &s->rows[j];
        if (r->need != NEED_STEP) continue;
        r->ho = k * blk;
        r->nfe++;
        if (r->kv) {
            s->kcs[k] = r->kv;
            s->toks[k] = r->x + (size_t)r->b * blk;
            s->nn[k] = blk;
            s->pp[k] = r->b * blk;
            s->st[k] = false;
        } else {
            if (model_forward_hidden(s->m, r->scr, r->x, NULL, 1, r->total, r->full, e)) return -1;
            memcpy(s->hidden + (size_t)r->ho * d, r->full + (size_t)r->b * blk * d, (size_t)blk * d * sizeof *r->full);
        }
        k++;
    }
    if (k && !s->o->block_cache_off &&
        model_block_forward_rows(s->m, s->kcs, k, s->toks, s->nn, s->pp, s->st, s->scr, s->hidden, e))
        return -1;
    return k;
}

/* The LM head and summaries of this tick's candidate rows (every stepping row's masked block
 * positions; with edit, all its block positions), HEAD_ROWS at a time. */
static void summarise_all(bd_t *s, int nh) {
    const model_t *m = s->m;
    const int d = m->cfg.d_model, V = m->cfg.embedding_size;
    for (int h0 = 0; h0 < nh; h0 += HEAD_ROWS) {
        int h1 = h0 + HEAD_ROWS < nh ? h0 + HEAD_ROWS : nh;
        for (int h = h0; h < h1; h++)
            memcpy(s->hc + (size_t)(h - h0) * d, s->hidden + (size_t)s->hrow[h] * d, (size_t)d * sizeof *s->hc);
        model_head(m, s->hc, h1 - h0, s->lc);
        for (int h = h0; h < h1; h++) {
            const row_t *r = &s->rows[s->owner[h]];
            int32_t pos = s->dst[h]->pos;
            sampler_summarise(s->o, &m->cfg, s->lc + (size_t)(h - h0) * V, V,
                              crng_prefix(r->seed, CRNG_GUMBEL, (uint64_t)r->record, (uint64_t)r->step, (uint64_t)pos),
                              s->dst[h]);
            s->dst[h]->pos = pos;
        }
    }
}

/* Commit the policy's choice among cand[0..n) into the row (reveal step r->step); sets *eos
 * when a committed token is EOS. */
static int commit(bd_t *s, row_t *r, int n, int k, bool *eos, lerr_t *e) {
    for (int q = 0; q < k; q++) {
        int ci = -1;
        for (int t = 0; t < n; t++)
            if (r->cand[t].pos == r->chosen[q]) ci = t;
        if (ci < 0)
            return lerr_set(e, EXIT_PEER, "remask policy chose position %d, which is not a candidate", r->chosen[q]);
        r->x[r->chosen[q]] = r->cand[ci].token;
        r->reveal[r->chosen[q]] = r->step;
        *eos |= r->cand[ci].token == s->m->cfg.eos_token_id;
    }
    return 0;
}

/* The row's step after the forward: its choice, commits (and edits), what it does next. */
static int row_step(bd_t *s, row_t *r, lerr_t *e) {
    const llada_config_t *c = &s->m->cfg;
    const sampler_opts_t *o = s->o;
    int blk = s->blk, s0 = r->b * blk, n = 0;
    rm_state_t st = {.seed = r->seed,
                     .record = r->record,
                     .step = r->step,
                     .block = r->b,
                     .n_blocks = r->nb,
                     .block_start = s0,
                     .block_end = s0 + blk,
                     .prompt_len = r->P,
                     .canvas_len = r->total,
                     .n_masked = masks_in(s, r, 0, r->total)};
    if (o->edit) {
        for (int j = 0; j < blk; j++)
            if (r->x[s0 + j] == c->mask_token_id) r->cand[n++] = r->all[j];
        if (sampler_cands_ok(r->all, blk, e)) return -1;
        int k = 0, edits = 0;
        if (n) {
            st.steps = (r->nb - r->b0) * blk;
            st.block_step = r->i;
            st.steps_per_block = blk;
            st.n_commit = 1;
            if ((k = rm_policy_select(s->pol, &st, r->cand, n, r->chosen, e)) < 0) return -1;
            if (k == 0) return lerr_set(e, EXIT_PEER, "remask policy committed no position of a block with masks");
        }
        /* T2T on the tokens as this step's forward saw them, before the M2T commits */
        for (int j = 0; j < blk; j++) {
            int32_t pos = s0 + j;
            if (pos < r->P || r->x[pos] == c->mask_token_id) continue;
            if (r->all[j].conf > o->edit_threshold && r->all[j].token != r->x[pos]) {
                r->x[pos] = r->all[j].token;
                r->reveal[pos] = r->step;
                edits++;
            }
        }
        bool eos = false;
        if (commit(s, r, n, k, &eos, e)) return -1;
        r->step++;
        r->i++;
        if (!r->n0 && !edits) r->need = NEED_STORE;
        else plan(s, r);
        return 0;
    }
    for (int j = 0; j < blk; j++)
        if (r->x[s0 + j] == c->mask_token_id) n++;
    if (sampler_cands_ok(r->cand, n, e)) return -1;
    st.steps = (r->nb - r->b0) * r->D;
    st.block_step = r->i;
    st.steps_per_block = r->D;
    st.n_commit = r->quota[r->i] < n ? r->quota[r->i] : n;
    int k = rm_policy_select(s->pol, &st, r->cand, n, r->chosen, e);
    bool eos = false;
    if (k < 0 || commit(s, r, n, k, &eos, e)) return -1;
    r->step++;
    r->i++;
    if (o->eos_early_stop && eos && eos_return(s, r, s0 + blk)) r->need = NEED_DONE;
    else plan(s, r);
    return 0;
}

/* Remove the rows the caller's on_step marked in s->drop, keeping the others' order. */
static void compact(bd_t *s) {
    canvas_batch_t *cb = s->cb;
    size_t L = (size_t)cb->L;
    int k = 0;
    for (int j = 0; j < s->B; j++) {
        if (s->drop[j]) {
            row_free(&s->rows[j]);
            continue;
        }
        if (k != j) {
            memmove(cb->x + k * L, cb->x + j * L, L * sizeof *cb->x);
            memmove(cb->reveal + k * L, cb->reveal + j * L, L * sizeof *cb->reveal);
            cb->pad[k] = cb->pad[j];
            cb->record[k] = cb->record[j];
            if (cb->seed) cb->seed[k] = cb->seed[j];
            if (cb->row_nfe) cb->row_nfe[k] = cb->row_nfe[j];
            s->rows[k] = s->rows[j];
            memset(&s->rows[j], 0, sizeof s->rows[j]);
        }
        k++;
    }
    for (int j = 0; j < s->B; j++) s->drop[j] = 0;
    cb->B = s->B = k;
}

/* Scratch shared by the rows: the lockstep forward's, the hidden rows, the head's. */
static int bd_alloc(bd_t *s, lerr_t *e) {
    const llada_config_t *c = &s->m->cfg;
    size_t B = (size_t)s->B, R = B * s->blk, d = c->d_model, V = c->embedding_size;
    s->rows = calloc(B, sizeof *s->rows);
    s->hidden = malloc(R * d * sizeof *s->hidden);
    size_t H = R < HEAD_ROWS ? R : HEAD_ROWS;
    s->hc = malloc(H * d * sizeof *s->hc);
    s->lc = malloc(H * V * sizeof *s->lc);
    s->kcs = malloc(B * sizeof *s->kcs);
    s->toks = malloc(B * sizeof *s->toks);
    s->nn = malloc(B * sizeof *s->nn);
    s->pp = malloc(B * sizeof *s->pp);
    s->st = malloc(B * sizeof *s->st);
    s->dst = malloc(R * sizeof *s->dst);
    s->hrow = malloc(R * sizeof *s->hrow);
    s->owner = malloc((R > B ? R : B) * sizeof *s->owner);
    s->drop = calloc(B, 1);
    if (!s->rows || !s->hidden || !s->hc || !s->lc || !s->kcs || !s->toks || !s->nn || !s->pp || !s->st || !s->dst ||
        !s->hrow || !s->owner || !s->drop)
        return lerr_set(e, EXIT_INTERNAL, "out of memory for a batch of %d rows", s->B);
    if (!s->o->block_cache_off && !(s->scr = model_block_scratch_new(s->m, (int)R, e))) return -1;
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
    bd_t s = {.m = m, .o = o, .pol = pol, .cb = cb, .blk = m->cfg.attn_block, .B = cb->B};
    int rc = -1, steps = 0, tick = 0, shown = 0;
    for (size_t i = 0; i < (size_t)cb->B * cb->L; i++) cb->reveal[i] = -1;
    cb->nfe = 0;
    cb->steps_done = 0;
    if (!cb->B) return 0;
    if (bd_alloc(&s, e)) goto out;
    for (int j = 0; j < s.B; j++) {
        if (row_init(&s, j, e)) goto out;
        const row_t *r = &s.rows[j];
        int rs = (r->nb - r->b0) * (o->edit ? s.blk : r->D);
        if (rs > steps) steps = rs;
    }
    if (prefill(&s, e)) goto out;
    for (;;) {
        if (end_blocks(&s, e)) goto out;
        int k = forward_step(&s, e);
        if (k < 0) goto out;
        if (!k) break;
        int nh = 0;
        for (int j = 0; j < s.B; j++) {
            row_t *r = &s.rows[j];
            if (r->need != NEED_STEP) continue;
            for (int t = 0, n = 0; t < s.blk; t++) {
                int32_t pos = r->b * s.blk + t;
                bool masked = r->x[pos] == m->cfg.mask_token_id;
                if (!o->edit && !masked) continue;
                rm_cand_t *dst = o->edit ? &r->all[t] : &r->cand[n++];
                dst->pos = pos;
                s.dst[nh] = dst;
                s.hrow[nh] = r->ho + t;
                s.owner[nh++] = j;
            }
        }
        summarise_all(&s, nh);
        for (int j = 0; j < s.B; j++)
            if (s.rows[j].need == NEED_STEP && row_step(&s, &s.rows[j], e)) goto out;
        tick++;
        if (progress && tick < steps) progress(shown = tick, steps, arg);
        cb->steps_done = tick;
        if (cb->on_step) {
            for (int j = 0; j < s.B; j++) copy_back(&s, j);
            if (cb->on_step(cb, tick - 1, s.drop, cb->on_step_arg, e) < 0) goto out;
            compact(&s);
            if (!s.B) break;
        }
    }
    if (progress && shown < steps) progress(steps, steps, arg); /* the last call ends the line */
    if (s.B) cb->steps_done = 0;
    for (int j = 0; j < s.B; j++) {
        const row_t *r = &s.rows[j];
        copy_back(&s, j);
        cb->nfe += r->nfe;
        if (cb->row_nfe) cb->row_nfe[j] = r->nfe;
        if (r->step > cb->steps_done) cb->steps_done = r->step;
    }
    rc = 0;
out:
    bd_free(&s);
    return rc;
}
