/* forward.cu — forward pass, CUDA graph, full logits and the sampling step of the CUDA
 * backend (see denoise/backend_cuda.h).
 *
 * One step: tokens [nB][L] (+ keep) up -> graph: embed, n_layers x (RMSNorm, fused QKV
 * GEMM, RoPE, flash attention, out-proj GEMM += residual, RMSNorm, fused gate|up GEMM,
 * SwiGLU, down GEMM += residual), final RMSNorm -> per chunk of <= HEAD_ROWS candidates:
 * gather rows, head GEMM to f32 logits (again for the unconditional rows, then CFG
 * combine), summaries -> rm_cand_t [nc] down. The graph is captured at the first forward of
 * a (B, L) and replayed while the shape and the buffers stay the same. */
#include <stdlib.h>
#include <string.h>
#include "backend.cuh"
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/embed.cuh"
#include "kernels/cuda/rmsnorm.cuh"
#include "kernels/cuda/rope.cuh"
#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/swiglu.cuh"
#include "kernels/cuda/summarise.cuh"

#define RUN_IF(bit, call) \
    do { \
        if (!(b->skip & (bit)) && (call)) return -1; \
    } while (0)

static int layer_enqueue(cuda_backend_t *b, const cu_layer_t *ly, int B, int L) {
    const llada_config_t *c = &b->cfg;
    int T = B * L, d = c->d_model, hd = c->head_dim, Hq = c->n_heads, Hkv = c->n_kv_heads;
    int qd = Hq * hd, nqkv = qd + 2 * Hkv * hd, F = c->mlp_hidden_size;
    float eps = (float)c->rms_norm_eps;
    cu_dtype_t t = b->wt;
    RUN_IF(SKIP_OTHER, cu_rmsnorm(b->xn, t, b->x, ly->attn_norm, T, d, eps, b->st));
    RUN_IF(SKIP_GEMM, cu_gemm(b->blas, b->qkv, t, b->xn, d, ly->wqkv, t, T, nqkv, d, 0.0f));
    RUN_IF(SKIP_OTHER, cu_rope(b->qkv, t, T, L, nqkv, Hq + Hkv, hd, b->cos_t, b->sin_t, b->st));
    RUN_IF(SKIP_ATTN, cu_attention(b->ao, b->qkv, t, b->keep, B, L, Hq, Hkv, hd, b->st));
    RUN_IF(SKIP_GEMM, cu_gemm(b->blas, b->x, CU_F32, b->ao, qd, ly->wo, t, T, d, qd, 1.0f));
    RUN_IF(SKIP_OTHER, cu_rmsnorm(b->xn, t, b->x, ly->ff_norm, T, d, eps, b->st));
    RUN_IF(SKIP_GEMM, cu_gemm(b->blas, b->gu, t, b->xn, d, ly->wgu, t, T, 2 * F, d, 0.0f));
    RUN_IF(SKIP_OTHER, cu_swiglu(b->gu, t, T, F, b->st));
    RUN_IF(SKIP_GEMM, cu_gemm(b->blas, b->x, CU_F32, b->gu, 2 * F, ly->wdown, t, T, d, F, 1.0f));
    return 0;
}

int forward_enqueue(cuda_backend_t *b, int B, int L) {
    const llada_config_t *c = &b->cfg;
    int T = B * L;
    CU_REQUIRE(B <= b->cap_rows && L == b->cap_L);
    RUN_IF(SKIP_OTHER, cu_embed(b->x, b->wte, b->wt, b->tok, T, c->d_model, b->st));
    for (int l = 0; l < c->n_layers; l++)
        if (layer_enqueue(b, &b->layers[l], B, L)) return -1;
    RUN_IF(SKIP_OTHER, cu_rmsnorm(b->hid, b->wt, b->x, b->ln_f, T, c->d_model, (float)c->rms_norm_eps, b->st));
    return 0;
}

/* Capture the forward of (B, L) into b->graph. On failure the stream leaves capture mode. */
static int graph_capture(cuda_backend_t *b, int B, int L) {
    cudaGraph_t g = NULL;
    if (b->graph) cudaGraphExecDestroy(b->graph);
    b->graph = NULL;
    b->graph_B = b->graph_L = 0;
    CU_CHECK(cudaStreamBeginCapture(b->st, cudaStreamCaptureModeThreadLocal));
    int rc = forward_enqueue(b, B, L);
    cudaError_t ec = cudaStreamEndCapture(b->st, &g);
    if (rc) {
        if (g) cudaGraphDestroy(g);
        return -1;
    }
    CU_CHECK(ec);
    cudaError_t ei = cudaGraphInstantiate(&b->graph, g, 0);
    cudaGraphDestroy(g);
    CU_CHECK(ei);
    b->graph_B = B;
    b->graph_L = L;
    return 0;
}

/* The first forward of a shape runs eagerly (module loading and cuBLAS heuristics happen
 * outside any capture); the second captures the graph; later ones replay it. A capture that
 * fails turns graphs off for this backend (noted in graph_note) and the pass runs eagerly. */
int forward_run(cuda_backend_t *b, int B, int L) {
    if (!b->use_graph || b->skip) return forward_enqueue(b, B, L);
    if (b->graph_B != B || b->graph_L != L) {
        if (b->warm_B != B || b->warm_L != L) {
            b->warm_B = B;
            b->warm_L = L;
            return forward_enqueue(b, B, L);
        }
        if (graph_capture(b, B, L)) {
            snprintf(b->graph_note, sizeof b->graph_note, "graph capture failed, running eagerly: %s", cu_last_error());
            b->use_graph = false;
            cudaGetLastError();
            cu_clear_error();
            return forward_enqueue(b, B, L);
        }
    }
    CU_CHECK(cudaGraphLaunch(b->graph, b->st));
    return 0;
}

const char *cuda_backend_graph_note(const cuda_backend_t *b) { return b->graph_note[0] ? b->graph_note : NULL; }

/* Validate and upload tokens [B][L] and keep (NULL -> all ones). */
int upload_inputs(cuda_backend_t *b, const int32_t *tokens, const uint8_t *keep, int B, int L, lerr_t *e) {
    size_t T = (size_t)B * L;
    for (size_t i = 0; i < T; i++)
        if (tokens[i] < 0 || tokens[i] >= b->cfg.embedding_size)
            return lerr_set(e, EXIT_DATA, "token id %d outside the model's vocabulary [0, %d)", tokens[i],
                            b->cfg.embedding_size);
    if (cuda_backend_reserve(b, B, L, e)) return -1;
    cudaError_t r1 = cudaMemcpyAsync(b->tok, tokens, T * 4, cudaMemcpyHostToDevice, b->st);
    cudaError_t r2 =
        keep ? cudaMemcpyAsync(b->keep, keep, T, cudaMemcpyHostToDevice, b->st) : cudaMemsetAsync(b->keep, 1, T, b->st);
    if (r1 != cudaSuccess || r2 != cudaSuccess) {
        cu_fail(__FILE__, __LINE__, "cudaMemcpyAsync(tokens, keep)", cudaGetErrorString(r1 != cudaSuccess ? r1 : r2));
        return backend_error(e, "input upload");
    }
    return 0;
}

static int logits_chunks(cuda_backend_t *b, int T, float *logits) {
    const llada_config_t *c = &b->cfg;
    size_t d = c->d_model, V = c->embedding_size, es = cu_dtype_size(b->wt);
    for (int r0 = 0; r0 < T; r0 += HEAD_ROWS) {
        int n = T - r0 < HEAD_ROWS ? T - r0 : HEAD_ROWS;
        if (cu_gemm(b->blas, b->lc, CU_F32, (char *)b->hid + r0 * d * es, (int)d, b->head, b->wt, n, (int)V, (int)d,
                    0.0f))
            return -1;
        CU_CHECK(cudaMemcpyAsync(logits + r0 * V, b->lc, n * V * 4, cudaMemcpyDeviceToHost, b->st));
        CU_CHECK(cudaStreamSynchronize(b->st));
    }
    return 0;
}

int cuda_backend_logits(cuda_backend_t *b, const int32_t *tokens, const uint8_t *keep, int B, int L, float *logits,
                        lerr_t *e) {
    cu_clear_error();
    if (upload_inputs(b, tokens, keep, B, L, e)) return -1;
    if (forward_run(b, B, L) || logits_chunks(b, B * L, logits)) return backend_error(e, "forward");
    return 0;
}

/* LM head + CFG + summaries of candidates [c0, c0+n) (rows on the device already). */
static int head_chunk(cuda_backend_t *b, const cu_summ_opts_t *so, float s1, bool cfg, int nc, int c0, int n) {
    const llada_config_t *c = &b->cfg;
    int d = c->d_model, V = c->embedding_size;
    if (cu_gather_rows(b->hc, b->hid, b->wt, b->rows + c0, n, d, b->st)) return -1;
    if (cu_gemm(b->blas, b->lc, CU_F32, b->hc, d, b->head, b->wt, n, V, d, 0.0f)) return -1;
    if (cfg) {
        if (cu_gather_rows(b->hu, b->hid, b->wt, b->rows + nc + c0, n, d, b->st)) return -1;
        if (cu_gemm(b->blas, b->lu, CU_F32, b->hu, d, b->head, b->wt, n, V, d, 0.0f)) return -1;
        if (cu_cfg_combine(b->lc, b->lu, s1, (size_t)n * V, b->st)) return -1;
    }
    return cu_summarise(b->cand + c0, b->lc, n, V, V, b->prefix + c0, so, b->st);
}

static int step_device(cuda_backend_t *b, const sampler_opts_t *o, int nB, int B, int L, const int32_t *rows,
                       const uint64_t *prefix, int nc, rm_cand_t *tmp) {
    (void)B;
    if (forward_run(b, nB, L)) return -1;
    return step_head(b, o, rows, prefix, nc, tmp);
}

int step_head(cuda_backend_t *b, const sampler_opts_t *o, const int32_t *rows, const uint64_t *prefix, int nc,
              rm_cand_t *tmp) {
    bool cfg = o->cfg_scale > 0;
    cu_summ_opts_t so = {o->temperature, o->logits_eos_inf,   o->conf_eos_eot_inf,
                         o->fixed_eos,   b->cfg.eos_token_id, b->cfg.eot_token_id};
    if (nc == 0) return 0;
    CU_CHECK(cudaMemcpyAsync(b->rows, rows, (size_t)nc * (cfg ? 2 : 1) * 4, cudaMemcpyHostToDevice, b->st));
    CU_CHECK(cudaMemcpyAsync(b->prefix, prefix, (size_t)nc * 8, cudaMemcpyHostToDevice, b->st));
    for (int c0 = 0; c0 < nc; c0 += HEAD_ROWS)
        if (head_chunk(b, &so, (float)(o->cfg_scale + 1.0), cfg, nc, c0, nc - c0 < HEAD_ROWS ? nc - c0 : HEAD_ROWS))
            return -1;
    CU_CHECK(cudaMemcpyAsync(tmp, b->cand, (size_t)nc * sizeof *tmp, cudaMemcpyDeviceToHost, b->st));
    CU_CHECK(cudaStreamSynchronize(b->st));
    return 0;
}

int cuda_backend_step(cuda_backend_t *b, const sampler_opts_t *o, const int32_t *tokens, const uint8_t *keep, int nB,
                      int B, int L, const int *crow, const int *cpos, const uint64_t *prefix, int nc, rm_cand_t *out,
                      lerr_t *e) {
    bool cfg = o->cfg_scale > 0;
    if (nB != (cfg ? 2 * B : B) || nc < 0 || nc > B * L)
        return lerr_set(e, EXIT_INTERNAL, "CUDA step: %d rows for a batch of %d (cfg %s), %d candidates", nB, B,
                        cfg ? "on" : "off", nc);
    cu_clear_error();
    if (upload_inputs(b, tokens, keep, nB, L, e)) return -1;
    int32_t *rows = (int32_t *)malloc(((size_t)2 * nc + 1) * sizeof *rows);
    rm_cand_t *tmp = (rm_cand_t *)malloc(((size_t)nc + 1) * sizeof *tmp);
    int rc = 0;
    if (!rows || !tmp) rc = lerr_set(e, EXIT_INTERNAL, "out of memory for %d candidates", nc);
    for (int i = 0; !rc && i < nc; i++) {
        if (crow[i] < 0 || crow[i] >= B || cpos[i] < 0 || cpos[i] >= L)
            rc = lerr_set(e, EXIT_INTERNAL, "CUDA step: candidate %d at (%d, %d) outside %d x %d", i, crow[i], cpos[i],
                          B, L);
        rows[i] = crow[i] * L + cpos[i];
        rows[nc + i] = (B + crow[i]) * L + cpos[i];
    }
    if (!rc && step_device(b, o, nB, B, L, rows, prefix, nc, tmp)) rc = backend_error(e, "step");
    for (int i = 0; !rc && i < nc; i++) {
        int32_t pos = out[i].pos;
        out[i] = tmp[i];
        out[i].pos = pos;
    }
    free(rows);
    free(tmp);
    return rc;
}

int cuda_sampler_step(void *ctx, const sampler_opts_t *o, const int32_t *tokens, const uint8_t *keep, int nB, int B,
                      int L, const int *crow, const int *cpos, const uint64_t *prefix, int nc, rm_cand_t *out,
                      lerr_t *e) {
    return cuda_backend_step((cuda_backend_t *)ctx, o, tokens, keep, nB, B, L, crow, cpos, prefix, nc, out, e);
}
