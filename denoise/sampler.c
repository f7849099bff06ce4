/* sampler.c — the official LLaDA reverse process (see sampler.h) on top of the forward
 * pass and a remask policy. Only positions that can be committed at a step (masked and
 * before the end of the current block) get LM-head logits; each is reduced to a summary
 * in float64 right away, so full-vocabulary logits never leave this file. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sampler.h"
#include "crng.h"
#include "remask/schedule.h"
#include "bdsample.h"

int sampler_check(const sampler_opts_t *o, lerr_t *e) {
    if (o->gen_length <= 0 || o->steps <= 0 || o->block_length <= 0)
        return lerr_set(e, EXIT_USAGE, "gen_length, steps and block_length must be positive");
    if (o->gen_length % o->block_length)
        return lerr_set(e, EXIT_USAGE, "gen_length %d is not a multiple of block_length %d", o->gen_length,
                        o->block_length);
    int nb = o->gen_length / o->block_length;
    if (o->steps % nb)
        return lerr_set(e, EXIT_USAGE, "steps %d is not a multiple of the number of blocks %d", o->steps, nb);
    if (o->schedule_eps < 0 || o->schedule_eps >= 1 || o->schedule < SAMPLER_SCHED_MODEL ||
        o->schedule > SAMPLER_SCHED_TIMESTEP)
        return lerr_set(e, EXIT_USAGE, "schedule must be model, linear or timestep with 0 < eps < 1");
    if (o->temperature < 0 || o->cfg_scale < 0 || !isfinite(o->temperature) || !isfinite(o->cfg_scale))
        return lerr_set(e, EXIT_USAGE, "temperature and cfg scale must be finite and >= 0");
    if (o->cache < SAMPLER_CACHE_NONE || o->cache > SAMPLER_CACHE_DUAL || o->cache_refresh < 0)
        return lerr_set(e, EXIT_USAGE, "unknown cache mode %d or negative cache refresh %d", o->cache,
                        o->cache_refresh);
    return 0;
}

/* Softmax statistics of a row: probability of `tok`, top-2 margin, entropy (double). */
static void row_stats(const float *l, int V, int tok, double *p_tok, double *margin, double *ent) {
    double mx = -INFINITY, s = 0, sl = 0, t1 = -INFINITY, t2 = -INFINITY;
    for (int i = 0; i < V; i++)
        if (l[i] > mx) mx = l[i];
    if (mx == -INFINITY) {
        *p_tok = 0;
        *margin = 0;
        *ent = 0;
        return;
    }
    for (int i = 0; i < V; i++) {
        if (l[i] == -INFINITY) continue;
        double z = (double)l[i] - mx, ez = exp(z);
        s += ez;
        sl += ez * z;
        if (l[i] > t1) {
            t2 = t1;
            t1 = l[i];
        } else if (l[i] > t2) t2 = l[i];
    }
    *p_tok = l[tok] == -INFINITY ? 0.0 : exp((double)l[tok] - mx) / s;
    *margin = (exp(t1 - mx) - (t2 == -INFINITY ? 0 : exp(t2 - mx))) / s;
    *ent = log(s) - sl / s;
}

typedef struct {
    float v;
    int i;
} vi_t; /* a logit and its token */
static int vi_desc(const void *a, const void *b) {
    const vi_t *x = a, *y = b;
    return x->v > y->v ? -1 : x->v < y->v ? 1 : (x->i > y->i) - (x->i < y->i);
}

/* The k-th largest of v[0..n) (1-based k <= n); v is reordered. */
static float kth_largest(float *v, int n, int k) {
    int lo = 0, hi = n - 1, want = k - 1;
    while (lo < hi) {
        float piv = v[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] > piv) i++;
            while (v[j] < piv) j--;
            if (i <= j) {
                float t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        }
        if (want <= j) hi = j;
        else if (want >= i) lo = i;
        else return v[want];
    }
    return v[want];
}

/* Dream's top_p_logits then top_k_logits (generation_utils.py) on one row: what they remove
 * becomes -inf here (finfo.min there: the same zero probability). Decided on l / T for
 * T > 0, as Dream divides first. Scratch: the thread's KERN_SCRATCH_FILTER. 0 on success,
 * -1 on OOM (the row is then left unfiltered). */
static int filter_top_pk(const sampler_opts_t *o, float *l, int V) {
    bool tp = o->top_p > 0 && o->top_p<1, tk = o->top_k> 0 && o->top_k < V;
    if (!tp && !tk) return 0;
    double inv = o->temperature > 0 ? 1.0 / o->temperature : 1.0;
    if (tp) {
        vi_t *s = kern_scratch(KERN_SCRATCH_FILTER, (size_t)V * sizeof *s);
        if (!s) return -1;
        for (int i = 0; i < V; i++) s[i] = (vi_t){l[i], i};
        qsort(s, (size_t)V, sizeof *s, vi_desc);
        double mx = (double)s[0].v * inv, sum = 0, cum = 0;
        for (int i = 0; i < V; i++)
            if (s[i].v != -INFINITY) sum += exp((double)s[i].v * inv - mx);
        /* keep sorted entries up to and including the first whose cumulative probability
         * exceeds top_p (the removal mask shifted right by one; the first always stays) */
        int j = 0;
        for (; j < V; j++) {
            if (s[j].v != -INFINITY) cum += exp((double)s[j].v * inv - mx) / sum;
            if (cum > o->top_p) break;
        }
        for (int q = j + 1; q < V; q++) l[s[q].i] = -INFINITY;
    }
    if (tk) {
        float *v = kern_scratch(KERN_SCRATCH_FILTER, (size_t)V * sizeof *v);
        if (!v) return -1;
        memcpy(v, l, (size_t)V * sizeof *v);
        float kth = kth_largest(v, V, o->top_k);
        for (int i = 0; i < V; i++)
            if (l[i] < kth) l[i] = -INFINITY;
    }
    return 0;
}

void sampler_summarise(const sampler_opts_t *o, const llada_config_t *c, float *l, int V, uint64_t u_prefix,
                       rm_cand_t *out) {
    int eos = c->eos_token_id, eot = c->eot_token_id;
    bool has_eot = eot >= 0 && eot < V;
    double p, margin, ent;
    if (o->logits_eos_inf) {
        l[eos] = -INFINITY;
        if (o->fixed_eos && has_eot) l[eot] = -INFINITY;
    }
    if (filter_top_pk(o, l, V)) { /* OOM: the caller sees token -1 (sampler_cands_ok) */
        out->token = -1;
        return;
    }
    /* x0 = argmax(logits - T log(-log u)) == argmax(exp(logits) / (-log u)^T), float64 */
    int best = 0;
    if (o->temperature > 0) {
        double bv = -INFINITY;
        for (int i = 0; i < V; i++) {
            double u = crng_u01_from(u_prefix, (uint64_t)i);
            double v = (double)l[i] - o->temperature * log(-log(u));
            if (v > bv) {
                bv = v;
                best = i;
            }
        }
    } else {
        for (int i = 1; i < V; i++)
            if (l[i] > l[best]) best = i;
    }
    row_stats(l, V, best, &p, &margin, &ent);
    out->token = best;
    out->prob = (float)p;
    out->margin = (float)margin;
    out->entropy = (float)ent;
    out->conf = p;
    if (!o->conf_eos_eot_inf) return;
    if (o->fixed_eos) {
        if (best == eos || (has_eot && best == eot)) out->conf = -INFINITY;
        return;
    }
    /* official quirk: EOT column -inf in the confidence logits; at T == 0 the noisy logits
     * alias the logits, so the EOS column goes too. The softmax renormalises without them. */
    float se = l[eos], st = has_eot ? l[eot] : 0;
    if (has_eot) l[eot] = -INFINITY;
    if (o->temperature == 0) l[eos] = -INFINITY;
    double pc, m2, e2;
    row_stats(l, V, best, &pc, &m2, &e2);
    out->conf = pc;
    l[eos] = se;
    if (has_eot) l[eot] = st;
}

int sampler_cands_ok(const rm_cand_t *c, int n, lerr_t *e) {
    for (int i = 0; i < n; i++)
        if (c[i].token < 0) return lerr_set(e, EXIT_INTERNAL, "out of memory for the top-p / top-k filter");
    return 0;
}

/* ---- the reverse process ---- */

enum { HEAD_CHUNK = 256 };

typedef struct {
    const sampler_opts_t *o;
    const llada_config_t *c;
    float *logits;          /* [n][V] */
    const uint64_t *prefix; /* [n] */
    rm_cand_t *out;         /* [n] */
    int V;
} summ_job_t;

static void summ_one(int i, void *arg) {
    summ_job_t *j = arg;
    sampler_summarise(j->o, j->c, j->logits + (size_t)i * j->V, j->V, j->prefix[i], &j->out[i]);
}

typedef struct {
    const model_t *m;
    const sampler_opts_t *o;
    canvas_batch_t *cb;
    fwd_scratch_t *scr;
    fwd_cache_t *kv; /* with o->cache: K/V of the nB forward rows */
    int nB, Lp;
    int32_t *tok;             /* [nB][L] */
    uint8_t *keep;            /* [nB][L] or NULL */
    uint8_t *prompt_index;    /* [B][L] */
    float *hidden;            /* [nB][L][d] */
    float *hc, *hu, *lc, *lu; /* head chunk buffers */
    int *crow, *cpos;         /* candidates of this step */
    rm_cand_t *cand;
    uint64_t *prefix;
    int32_t *chosen;
    int *sched;    /* [B][steps_per_block] */
    uint8_t *drop; /* [B] rows the on_step hook removes, or NULL */
    rm_policy_t *pol;
    bool timestep; /* Dream's schedule (remask/schedule.h) instead of the linear one */
    double eps;    /* its final timestep */
} run_t;

static void run_free(run_t *r) {
    fwd_scratch_destroy(&r->scr);
    fwd_cache_destroy(&r->kv);
    free(r->tok);
    free(r->keep);
    free(r->prompt_index);
    free(r->hidden);
    free(r->hc);
    free(r->hu);
    free(r->lc);
    free(r->lu);
    free(r->crow);
    free(r->cpos);
    free(r->cand);
    free(r->prefix);
    free(r->chosen);
    free(r->sched);
    free(r->drop);
}

static int run_alloc(run_t *r, lerr_t *e) {
    const llada_config_t *c = &r->m->cfg;
    int B = r->cb->B, L = r->cb->L, V = c->embedding_size, d = c->d_model;
    size_t BL = (size_t)B * L, nBL = (size_t)r->nB * L;
    int spb = r->o->steps / (r->o->gen_length / r->o->block_length);
    bool pad = false;
    for (int j = 0; j < B; j++) pad |= r->cb->pad[j] > 0;
    bool cpu = !r->o->backend; /* a backend does forward, head and summaries itself */
    if (cpu && !(r->scr = fwd_scratch_new(r->m, r->nB, L, e))) return -1;
    if (r->o->cache && !cpu && !r->o->backend->step_rows)
        return lerr_set(e, EXIT_USAGE, "this device has no KV cache (use --device cpu or --cache none)");
    if (r->o->cache && !cpu && r->cb->on_step)
        return lerr_set(e, EXIT_USAGE, "a KV cache on a device cannot drop rows between steps (per-step hook)");
    if (r->o->cache && cpu && !(r->kv = fwd_cache_new(r->m, r->nB, L, e))) return -1;
    r->tok = malloc(nBL * sizeof *r->tok);
    r->keep = pad ? malloc(nBL) : NULL;
    r->prompt_index = malloc(BL);
    if (cpu) {
        r->hidden = malloc(nBL * d * sizeof *r->hidden);
        r->hc = malloc((size_t)HEAD_CHUNK * d * sizeof(float));
        r->hu = malloc((size_t)HEAD_CHUNK * d * sizeof(float));
        r->lc = malloc((size_t)HEAD_CHUNK * V * sizeof(float));
        r->lu = r->o->cfg_scale > 0 ? malloc((size_t)HEAD_CHUNK * V * sizeof(float)) : NULL;
    }
    r->crow = malloc(BL * sizeof(int));
    r->cpos = malloc(BL * sizeof(int));
    r->cand = malloc(BL * sizeof *r->cand);
    r->prefix = malloc(BL * sizeof *r->prefix);
    r->chosen = malloc((size_t)L * sizeof *r->chosen);
    r->sched = malloc((size_t)B * spb * sizeof(int));
    r->drop = r->cb->on_step ? calloc((size_t)B, 1) : NULL;
    if (!r->tok || (pad && !r->keep) || !r->prompt_index || !r->crow || !r->cpos || !r->cand ||
        (cpu && (!r->hidden || !r->hc || !r->hu || !r->lc || (r->o->cfg_scale > 0 && !r->lu))) || !r->prefix ||
        !r->chosen || !r->sched || (r->cb->on_step && !r->drop))
        return lerr_set(e, EXIT_INTERNAL, "out of memory for a batch of %d x %d tokens", B, L);
    return 0;
}

/* Linear schedule of one block for every row: masks in [bs, be) spread over spb steps. */
static void block_schedule(run_t *r, int bs, int be, int spb) {
    int L = r->cb->L, mask = r->m->cfg.mask_token_id;
    for (int j = 0; j < r->cb->B; j++) {
        int n = 0;
        for (int p = bs; p < be; p++) n += r->cb->x[(size_t)j * L + p] == mask;
        for (int s = 0; s < spb; s++) r->sched[j * spb + s] = n / spb + (s < n % spb);
    }
}

/* Build the forward batch: x rows, then (CFG) x with every prompt position masked. */
static void build_batch(run_t *r) {
    int B = r->cb->B, L = r->cb->L, mask = r->m->cfg.mask_token_id;
    size_t BL = (size_t)B * L;
    memcpy(r->tok, r->cb->x, BL * sizeof *r->tok);
    if (r->nB > B)
        for (size_t i = 0; i < BL; i++) r->tok[BL + i] = r->prompt_index[i] ? mask : r->cb->x[i];
    if (r->keep)
        for (int j = 0; j < r->nB; j++)
            for (int p = 0; p < L; p++) r->keep[(size_t)j * L + p] = p >= r->cb->pad[j % B];
}

static uint64_t row_seed(const run_t *r, int j) { return r->cb->seed ? r->cb->seed[j] : r->o->seed; }

/* Gumbel crng prefix of candidate i at this step (keyed by record, step, unpadded position). */
static uint64_t cand_prefix(const run_t *r, int i, int step) {
    int j = r->crow[i];
    return crng_prefix(row_seed(r, j), CRNG_GUMBEL, (uint64_t)r->cb->record[j], (uint64_t)step,
                       (uint64_t)(r->cpos[i] - r->cb->pad[j]));
}

/* LM head + summaries for candidates [c0, c0+n). */
static void summarise_chunk(run_t *r, int c0, int n, int step) {
    const llada_config_t *c = &r->m->cfg;
    int B = r->cb->B, L = r->cb->L, d = c->d_model, V = c->embedding_size;
    for (int i = 0; i < n; i++) {
        int j = r->crow[c0 + i], p = model_logits_row(c, r->cpos[c0 + i]); /* shifted-logits seam */
        memcpy(r->hc + (size_t)i * d, r->hidden + ((size_t)j * L + p) * d, d * sizeof(float));
        if (r->lu) memcpy(r->hu + (size_t)i * d, r->hidden + ((size_t)(B + j) * L + p) * d, d * sizeof(float));
        r->prefix[c0 + i] = cand_prefix(r, c0 + i, step);
    }
    model_head(r->m, r->hc, n, r->lc);
    if (r->lu) {
        model_head(r->m, r->hu, n, r->lu);
        float s1 = (float)(r->o->cfg_scale + 1.0);
        for (size_t i = 0; i < (size_t)n * V; i++) r->lc[i] = r->lu[i] + s1 * (r->lc[i] - r->lu[i]);
    }
    summ_job_t job = {r->o, c, r->lc, r->prefix + c0, r->cand + c0, V};
    kern_parallel_for(n, summ_one, &job);
}

/* Index of the candidate at position pos (cands sorted by pos), or -1. */
static int find_cand(const rm_cand_t *c, int n, int pos) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c[mid].pos == pos) return mid;
        if (c[mid].pos < pos) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static bool block_has_mask(const run_t *r, int bs, int be) {
    for (int j = 0; j < r->cb->B; j++)
        for (int p = bs; p < be; p++)
            if (r->cb->x[(size_t)j * r->cb->L + p] == r->m->cfg.mask_token_id) return true;
    return false;
}

static int one_step(run_t *r, int step, int blk, int bi, int bs, int be, int spb, lerr_t *e) {
    canvas_batch_t *cb = r->cb;
    int B = cb->B, L = cb->L, mask = r->m->cfg.mask_token_id, nc = 0;
    build_batch(r);
    for (int j = 0; j < B; j++)
        for (int p = 0; p < be; p++)
            if (cb->x[(size_t)j * L + p] == mask) {
                r->crow[nc] = j;
                r->cpos[nc] = p;
                nc++;
            }
    /* with a cache: the whole canvas at the block's first step (and every cache_refresh
     * steps), else the block to the end (prefix) or the block only (dual) against the K/V kept */
    int N = r->o->cache_refresh;
    bool full = bi == 0 || (N > 0 && bi % N == 0);
    int r0 = full ? 0 : bs, r1 = full || r->o->cache == SAMPLER_CACHE_PREFIX ? L : be;
    if (r->o->backend) {
        const sampler_backend_t *bk = r->o->backend;
        for (int i = 0; i < nc; i++) r->prefix[i] = cand_prefix(r, i, step);
        if (r->o->cache
                ? bk->step_rows(bk->ctx, r->o, r->tok, r->keep, r->nB, B, L, r0, r1, r->crow, r->cpos, r->prefix, nc,
                                r->cand, e)
                : bk->step(bk->ctx, r->o, r->tok, r->keep, r->nB, B, L, r->crow, r->cpos, r->prefix, nc, r->cand, e))
            return -1;
    } else if (r->kv) {
        if (model_forward_cached(r->m, r->scr, r->kv, r->tok, r->keep, r->nB, L, r0, r1, r->hidden, e)) return -1;
        for (int c0 = 0; c0 < nc; c0 += HEAD_CHUNK)
            summarise_chunk(r, c0, nc - c0 < HEAD_CHUNK ? nc - c0 : HEAD_CHUNK, step);
    } else {
        if (model_forward_hidden(r->m, r->scr, r->tok, r->keep, r->nB, L, r->hidden, e)) return -1;
        for (int c0 = 0; c0 < nc; c0 += HEAD_CHUNK)
            summarise_chunk(r, c0, nc - c0 < HEAD_CHUNK ? nc - c0 : HEAD_CHUNK, step);
    }
    cb->nfe += r->nB / B;
    if (sampler_cands_ok(r->cand, nc, e)) return -1;
    for (int j = 0, c0 = 0; j < B; j++) {
        int n = 0, pad = cb->pad[j], masked = 0;
        while (c0 + n < nc && r->crow[c0 + n] == j) n++;
        int in_block = 0;
        for (int p = 0; p < L; p++) masked += cb->x[(size_t)j * L + p] == mask;
        for (int p = bs; p < be; p++) in_block += cb->x[(size_t)j * L + p] == mask;
        for (int i = 0; i < n; i++) r->cand[c0 + i].pos = r->cpos[c0 + i] - pad;
        if (r->o->alg_temp > 0) /* Dream's alg_temp: Gumbel-top-k == multinomial over softmax(key / alg_temp) */
            for (int i = 0; i < n; i++) {
                rm_cand_t *q = &r->cand[c0 + i];
                double g = -log(-log(crng_u01(row_seed(r, j), CRNG_ALG_TEMP, (uint64_t)cb->record[j], (uint64_t)step,
                                              (uint64_t)q->pos, 0))) *
                           r->o->alg_temp;
                q->conf += g;
                q->margin = (float)(q->margin + g);
                q->entropy = (float)(q->entropy - g); /* ranked by negative entropy */
            }
        rm_state_t st = {.seed = row_seed(r, j),
                         .record = cb->record[j],
                         .step = step,
                         .steps = r->o->steps,
                         .block = blk,
                         .n_blocks = r->o->gen_length / r->o->block_length,
                         .block_step = bi,
                         .steps_per_block = spb,
                         .block_start = bs - pad,
                         .block_end = be - pad,
                         .prompt_len = r->Lp - pad,
                         .canvas_len = L - pad,
                         .n_masked = masked,
                         .n_commit = bi >= spb     ? 1
                                     : r->timestep ? rm_sched_timestep_count(in_block, bi, spb, r->eps)
                                                   : r->sched[j * spb + bi]};
        int k = rm_policy_select(r->pol, &st, r->cand + c0, n, r->chosen, e);
        if (k < 0) return -1;
        if (k == 0 && n > 0 && rm_policy_adaptive(r->pol))
            return lerr_set(e, EXIT_PEER, "adaptive remask policy '%s' committed no position", rm_policy_name(r->pol));
        for (int i = 0; i < k; i++) {
            int p = r->chosen[i] + pad, ci = find_cand(r->cand + c0, n, r->chosen[i]);
            if (ci < 0)
                return lerr_set(e, EXIT_PEER, "remask policy chose position %d, which is not a candidate",
                                r->chosen[i]);
            cb->x[(size_t)j * L + p] = r->cand[c0 + ci].token;
            cb->reveal[(size_t)j * L + p] = step;
        }
        c0 += n;
    }
    return 0;
}

/* Remove the rows the on_step hook flagged, keeping the others' order (canvas_batch_t). */
static void drop_rows(run_t *r) {
    canvas_batch_t *cb = r->cb;
    size_t L = (size_t)cb->L, spb = (size_t)(r->o->steps / (r->o->gen_length / r->o->block_length));
    int k = 0;
    for (int j = 0; j < cb->B; j++) {
        if (r->drop[j]) continue;
        if (k != j) {
            memcpy(cb->x + k * L, cb->x + j * L, L * sizeof *cb->x);
            memcpy(cb->reveal + k * L, cb->reveal + j * L, L * sizeof *cb->reveal);
            memcpy(r->prompt_index + k * L, r->prompt_index + j * L, L);
            memcpy(r->sched + k * spb, r->sched + j * spb, spb * sizeof *r->sched);
            cb->pad[k] = cb->pad[j];
            cb->record[k] = cb->record[j];
            if (cb->seed) cb->seed[k] = cb->seed[j];
        }
        k++;
    }
    if (r->kv && k < cb->B) { /* the cache and the stale hidden rows follow their rows */
        int src[2 * cb->B], n = 0, B = cb->B;
        size_t hrow = L * (size_t)r->m->cfg.d_model;
        for (int half = 0; half < r->nB / B; half++)
            for (int j = 0; j < B; j++)
                if (!r->drop[j]) src[n++] = half * B + j;
        fwd_cache_keep_rows(r->kv, src, n);
        for (int i = 0; i < n; i++)
            if (src[i] != i) memmove(r->hidden + i * hrow, r->hidden + src[i] * hrow, hrow * sizeof(float));
    }
    memset(r->drop, 0, (size_t)cb->B);
    cb->B = k;
    r->nB = r->o->cfg_scale > 0 ? 2 * k : k;
}

int sampler_run(const model_t *m, rm_policy_t *pol, const sampler_opts_t *o, canvas_batch_t *cb,
                void (*progress)(int step, int steps, void *arg), void *arg, lerr_t *e) {
    if (sampler_check(o, e)) return -1;
    if (m->cfg.attn_block > 0 && o->cache)
        return lerr_set(e, EXIT_USAGE,
                        "--cache prefix/dual is for full-attention models; block diffusion (%s) "
                        "has its own exact block cache",
                        model_family_name(m));
    if (o->backend && ((o->top_p > 0 && o->top_p < 1) || o->top_k > 0))
        return lerr_set(e, EXIT_USAGE, "--top-p / --top-k run on the CPU (--device cpu)");
    if (o->eos_early_stop && m->cfg.attn_block <= 0)
        return lerr_set(e, EXIT_USAGE, "--eos-early-stop (LLaDA 2.0's mid-block return) is for block-diffusion models; %s is not one",
                        model_family_name(m));
    if (o->edit && m->cfg.attn_block <= 0)
        return lerr_set(e, EXIT_USAGE,
                        "--edit-threshold (token editing) is for block-diffusion models (LLaDA 2.x, "
                        "SDAR); %s is not one",
                        model_family_name(m));
    if (m->cfg.attn_block > 0) return bd_sampler_run(m, pol, o, cb, progress, arg, e); /* SDAR */
    if (cb->L < o->gen_length)
        return lerr_set(e, EXIT_DATA, "canvas of %d tokens is shorter than gen_length %d", cb->L, o->gen_length);
    run_t r = {.m = m,
               .o = o,
               .cb = cb,
               .pol = pol,
               .nB = o->cfg_scale > 0 ? 2 * cb->B : cb->B,
               .Lp = cb->L - o->gen_length,
               .timestep = o->schedule == SAMPLER_SCHED_MODEL ? m->cfg.schedule == MODEL_SCHED_TIMESTEP
                                                              : o->schedule == SAMPLER_SCHED_TIMESTEP,
               .eps = o->schedule_eps > 0       ? o->schedule_eps
                      : m->cfg.schedule_eps > 0 ? m->cfg.schedule_eps
                                                : 1e-3};
    int rc = -1, nb = o->gen_length / o->block_length, spb = o->steps / nb, step = 0;
    size_t BL = (size_t)cb->B * cb->L;
    cb->nfe = 0;
    cb->steps_done = 0;
    if (run_alloc(&r, e)) goto out;
    for (size_t i = 0; i < BL; i++) {
        r.prompt_index[i] = cb->x[i] != m->cfg.mask_token_id;
        cb->reveal[i] = -1;
    }
    for (int blk = 0; blk < nb && cb->B > 0; blk++) {
        int bs = r.Lp + blk * o->block_length, be = bs + o->block_length;
        block_schedule(&r, bs, be, spb);
        /* adaptive policies (threshold decoding) step until the block has no masks */
        for (int i = 0; cb->B > 0 && (rm_policy_adaptive(pol) ? block_has_mask(&r, bs, be) : i < spb); i++, step++) {
            if (one_step(&r, step, blk, i, bs, be, spb, e)) goto out;
            cb->steps_done = step + 1;
            if (progress) progress(step + 1, o->steps, arg);
            if (cb->on_step) {
                if (cb->on_step(cb, step, r.drop, cb->on_step_arg, e) < 0) goto out;
                drop_rows(&r);
            }
        }
    }
    for (int j = 0; cb->row_nfe && j < cb->B; j++) cb->row_nfe[j] = cb->nfe;
    rc = 0;
out:
    run_free(&r);
    return rc;
}
