/* test_denoise_backend.c — the sampler's backend seam (sampler.h sampler_backend_t) and the
 * host side of the CUDA backend.
 *
 * (1) A reference backend written from the seam's contract alone (full logits of the batch
 * it is handed, CFG combined in float, sampler_summarise per candidate at the given row,
 * position and Gumbel prefix) must make sampler_run reproduce the CPU path exactly: the same
 * canvases and reveal steps, greedy and Gumbel + CFG, with a left-padded row. This pins the
 * contract (rows B..2B-1 unconditional, keep rows, candidate coordinates, prefixes) that
 * the CUDA backend implements, and that a backend replaces every forward of the CPU path
 * (one call per step). (2) A backend error propagates out of sampler_run unchanged.
 * (3) With LLADA_CUDA: the memory plan (LLaDA-8B + a 4096 canvas fits 24 GiB and is at
 * least the bf16 weights, 2 bytes per parameter), precision resolution, and, on a machine
 * without a GPU, a clean failure (probe 0 with a reason; backend NULL with EXIT_INTERNAL).
 * (4) The KV-cache seam (step_rows) against the CPU's cached run.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testlib.h"
#include "model/model.h"
#include "denoise/sampler.h"
#include "remask/remask.h"
#ifdef LLADA_CUDA
#include "denoise/backend_cuda.h"
#endif

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static model_t *tiny_model(void) {
    llada_config_t c;
    lerr_t e = {0};
    llada_config_default(&c);
    c.d_model = 24;
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
    model_t *m = model_new(&c, &e);
    if (!m) return NULL;
    unsigned s = 99;
    wtensor_t *all[3 + 9 * 2] = {&m->w.wte, &m->w.ln_f, &m->w.lm_head};
    int n = 3;
    for (int l = 0; l < c.n_layers; l++) {
        llada_layer_t *L = &m->w.layers[l];
        wtensor_t *t[9] = {&L->attn_norm, &L->q_proj,  &L->k_proj,  &L->v_proj, &L->attn_out,
                           &L->ff_norm,   &L->ff_proj, &L->up_proj, &L->ff_out};
        for (int i = 0; i < 9; i++) all[n++] = t[i];
    }
    for (int i = 0; i < n; i++) {
        float *d = (float *)all[i]->data;
        for (int64_t j = 0; j < all[i]->rows * all[i]->cols; j++) d[j] = 2.0f * frand(&s);
    }
    return m;
}

typedef struct {
    const model_t *m;
    int calls, fail;
} ref_ctx_t;

static int ref_step(void *ctx, const sampler_opts_t *o, const int32_t *tok, const uint8_t *keep, int nB, int B, int L,
                    const int *crow, const int *cpos, const uint64_t *prefix, int nc, rm_cand_t *out, lerr_t *e) {
    ref_ctx_t *r = ctx;
    int V = r->m->cfg.embedding_size;
    r->calls++;
    if (r->fail) return lerr_set(e, EXIT_INTERNAL, "injected backend failure");
    if (nB != (o->cfg_scale > 0 ? 2 * B : B)) return lerr_set(e, EXIT_INTERNAL, "bad nB %d for B %d", nB, B);
    float *lg = malloc((size_t)nB * L * V * sizeof *lg), *row = malloc((size_t)V * sizeof *row);
    if (!lg || !row || model_forward_logits(r->m, tok, keep, nB, L, lg, e)) {
        free(lg);
        free(row);
        return -1;
    }
    float s1 = (float)(o->cfg_scale + 1.0);
    for (int i = 0; i < nc; i++) {
        const float *lc = lg + ((size_t)crow[i] * L + cpos[i]) * V;
        const float *lu = lg + ((size_t)(B + crow[i]) * L + cpos[i]) * V;
        for (int v = 0; v < V; v++) row[v] = nB > B ? lu[v] + s1 * (lc[v] - lu[v]) : lc[v];
        int32_t pos = out[i].pos;
        sampler_summarise(o, &r->m->cfg, row, V, prefix[i], &out[i]);
        out[i].pos = pos;
    }
    free(lg);
    free(row);
    return 0;
}

/* step_rows of a reference backend on the CPU's cached forward (model_forward_cached): pins
 * the seam of the KV-cache runs (which positions the sampler asks for at which step, rows
 * B..2B-1 unconditional, hidden rows kept between steps), not the cached graph itself
 * (py/test_denoise_cache checks that against numpy). */
typedef struct {
    const model_t *m;
    fwd_scratch_t *s;
    fwd_cache_t *kv;
    float *hid;
    int calls, whole;
} rows_ctx_t;

static int ref_step_rows(void *ctx, const sampler_opts_t *o, const int32_t *tok, const uint8_t *keep, int nB, int B,
                         int L, int r0, int r1, const int *crow, const int *cpos, const uint64_t *prefix, int nc,
                         rm_cand_t *out, lerr_t *e) {
    rows_ctx_t *r = ctx;
    int V = r->m->cfg.embedding_size, d = r->m->cfg.d_model;
    r->calls++;
    r->whole += r0 == 0 && r1 == L;
    if (!r->s && (!(r->s = fwd_scratch_new(r->m, nB, L, e)) || !(r->kv = fwd_cache_new(r->m, nB, L, e)) ||
                  !(r->hid = malloc((size_t)nB * L * d * sizeof(float)))))
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    if (model_forward_cached(r->m, r->s, r->kv, tok, keep, nB, L, r0, r1, r->hid, e)) return -1;
    float *lc = malloc((size_t)V * sizeof *lc), *lu = malloc((size_t)V * sizeof *lu);
    if (!lc || !lu) {
        free(lc);
        free(lu);
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    }
    float s1 = (float)(o->cfg_scale + 1.0);
    for (int i = 0; i < nc; i++) {
        model_head(r->m, r->hid + ((size_t)crow[i] * L + cpos[i]) * d, 1, lc);
        if (nB > B) {
            model_head(r->m, r->hid + ((size_t)(B + crow[i]) * L + cpos[i]) * d, 1, lu);
            for (int v = 0; v < V; v++) lc[v] = lu[v] + s1 * (lc[v] - lu[v]);
        }
        int32_t pos = out[i].pos;
        sampler_summarise(o, &r->m->cfg, lc, V, prefix[i], &out[i]);
        out[i].pos = pos;
    }
    free(lc);
    free(lu);
    return 0;
}

enum { B = 2, L = 20, GEN = 12 };

static void canvas(const model_t *m, int32_t *x, int *pad) {
    unsigned s = 5;
    pad[0] = 0;
    pad[1] = 3;
    for (int j = 0; j < B; j++)
        for (int p = 0; p < L; p++) {
            int32_t t = (int32_t)((frand(&s) + 1.0f) * 20);
            x[j * L + p] = p < pad[j] ? m->cfg.pad_token_id : p >= L - GEN ? m->cfg.mask_token_id : t;
        }
}

static int generate(const model_t *m, const sampler_opts_t *o, const sampler_backend_t *bk, int32_t *x, int32_t *rev,
                    int *nfe, lerr_t *e) {
    int pad[B];
    int64_t rec[B] = {3, 4};
    canvas(m, x, pad);
    canvas_batch_t cb = {.B = B, .L = L, .x = x, .pad = pad, .record = rec, .reveal = rev};
    sampler_opts_t so = *o;
    so.backend = bk;
    rm_policy_t *pol = rm_policy_new("low_confidence", e);
    int rc = pol ? sampler_run(m, pol, &so, &cb, NULL, NULL, e) : -1;
    rm_policy_destroy(&pol);
    *nfe = cb.nfe;
    return rc;
}

static void test_seam(const model_t *m, double T, double cfg) {
    sampler_opts_t o = {.steps = 6,
                        .gen_length = GEN,
                        .block_length = 4,
                        .temperature = T,
                        .cfg_scale = cfg,
                        .conf_eos_eot_inf = true,
                        .seed = 17};
    int32_t xc[B * L], xb[B * L], rc_[B * L], rb[B * L];
    int nfe_c, nfe_b;
    lerr_t e = {0};
    ref_ctx_t ctx = {m, 0, 0};
    sampler_backend_t bk = {ref_step, &ctx};
    CHECK(generate(m, &o, NULL, xc, rc_, &nfe_c, &e) == 0, "CPU path: %s", e.msg);
    CHECK(generate(m, &o, &bk, xb, rb, &nfe_b, &e) == 0, "backend path: %s", e.msg);
    CHECK(memcmp(xc, xb, sizeof xc) == 0, "T=%g cfg=%g: canvases differ through the seam", T, cfg);
    CHECK(memcmp(rc_, rb, sizeof rc_) == 0, "T=%g cfg=%g: reveal steps differ through the seam", T, cfg);
    CHECK(ctx.calls == o.steps, "backend called %d times for %d steps", ctx.calls, o.steps);
    CHECK(nfe_c == nfe_b, "nfe %d vs %d", nfe_c, nfe_b);
    int revealed = 0;
    for (int i = 0; i < B * L; i++) revealed += rb[i] >= 0;
    CHECK(revealed >= B * GEN - 8, "only %d of %d positions revealed", revealed, B * GEN);
    ctx.fail = 1;
    CHECK(generate(m, &o, &bk, xb, rb, &nfe_b, &e) == -1 && e.code == EXIT_INTERNAL && strstr(e.msg, "injected"),
          "backend failure not propagated: %s", e.msg);
}

/* A KV-cache run through a backend's step_rows equals the CPU's cached run; a backend without
 * step_rows refuses --cache with a usage error. */
static void test_seam_cached(const model_t *m, int mode, double cfg) {
    sampler_opts_t o = {.steps = 12,
                        .gen_length = GEN,
                        .block_length = 4,
                        .cfg_scale = cfg,
                        .seed = 3,
                        .cache = mode,
                        .cache_refresh = 3};
    int32_t xc[B * L], xb[B * L], rc_[B * L], rb[B * L];
    int nfe_c, nfe_b;
    lerr_t e = {0};
    rows_ctx_t ctx = {m, NULL, NULL, NULL, 0, 0};
    ref_ctx_t plain = {m, 0, 0};
    sampler_backend_t bk = {ref_step, &plain, ref_step_rows};
    bk.ctx = &ctx; /* step_rows only: step must not be called */
    bk.step = NULL;
    CHECK(generate(m, &o, NULL, xc, rc_, &nfe_c, &e) == 0, "CPU cached path: %s", e.msg);
    CHECK(generate(m, &o, &bk, xb, rb, &nfe_b, &e) == 0, "backend cached path: %s", e.msg);
    CHECK(memcmp(xc, xb, sizeof xc) == 0 && memcmp(rc_, rb, sizeof rc_) == 0,
          "cache %d cfg %g: canvases / reveal steps differ through step_rows", mode, cfg);
    CHECK(ctx.calls == o.steps && ctx.whole == 3 * 2,
          "step_rows called %d times (%d whole) for %d steps, "
          "3 blocks of 4 steps refreshed at steps 0 and 3",
          ctx.calls, ctx.whole, o.steps);
    fwd_scratch_destroy(&ctx.s);
    fwd_cache_destroy(&ctx.kv);
    free(ctx.hid);
    sampler_backend_t old = {ref_step, &plain};
    CHECK(generate(m, &o, &old, xb, rb, &nfe_b, &e) == -1 && e.code == EXIT_USAGE,
          "a backend without step_rows and --cache: %s", e.msg);
}

#ifdef LLADA_CUDA
static void test_cuda_host(const model_t *m) {
    llada_config_t c;
    llada_config_default(&c);
    double gib = 1073741824.0, w = 2.0 * (double)model_n_params(&c);
    size_t plan = cuda_plan_bytes(&c, CUDA_PREC_BF16, 1, 4096);
    printf("plan LLaDA-8B + 4096 canvas: %.2f GiB (bf16 weights %.2f GiB)\n", plan / gib, w / gib);
    CHECK(plan <= 24.0 * gib, "8B + 4096 canvas plan %.2f GiB > 24 GiB", plan / gib);
    CHECK(plan >= w && plan - w < 3.0 * gib, "plan %.2f GiB vs weights %.2f GiB", plan / gib, w / gib);
    CHECK(cuda_plan_bytes(&c, CUDA_PREC_BF16, 8, 4096) > plan, "plan must grow with the batch");
    CHECK(cuda_plan_bytes(&c, CUDA_PREC_F32, 1, 4096) >= 2 * w, "f32 plan below f32 weights");
    CHECK(cuda_prec_resolve(CUDA_PREC_AUTO, WT_BF16) == CUDA_PREC_BF16 &&
              cuda_prec_resolve(CUDA_PREC_AUTO, WT_F32) == CUDA_PREC_F32 &&
              cuda_prec_resolve(CUDA_PREC_AUTO, WT_F16) == CUDA_PREC_F32 &&
              cuda_prec_resolve(CUDA_PREC_BF16, WT_F32) == CUDA_PREC_BF16,
          "precision resolution");
    char why[256] = "";
    int n = cuda_probe(why, sizeof why);
    lerr_t e = {0};
    if (n == 0) {
        printf("no GPU here: %s\n", why);
        CHECK(why[0] != 0, "probe gave no reason");
        cuda_backend_t *b = cuda_backend_new(m, CUDA_PREC_AUTO, &e);
        CHECK(b == NULL && e.code == EXIT_INTERNAL && strstr(e.msg, "no usable CUDA device"),
              "backend without a GPU: %s", e.msg);
        cuda_backend_destroy(&b);
    } else {
        printf("%d CUDA device(s): GPU checks are tests/gpu/run.sh\n", n);
    }
}
#endif

int main(void) {
    model_t *m = tiny_model();
    CHECK(m != NULL, "tiny model");
    if (!m) return TEST_SUMMARY();
    test_seam(m, 0, 0);
    test_seam(m, 0.9, 0);
    test_seam(m, 0.9, 1.5);
    test_seam(m, 0, 2.0);
    test_seam_cached(m, SAMPLER_CACHE_DUAL, 0);
    test_seam_cached(m, SAMPLER_CACHE_PREFIX, 1.5);
#ifdef LLADA_CUDA
    test_cuda_host(m);
#else
    printf("CUDA backend not built (no nvcc): host checks skipped\n");
#endif
    model_destroy(&m);
    return TEST_SUMMARY();
}
