/* cached.cu — the KV cache of denoise --cache on the GPU (sampler.h sampler_backend_t.step_rows;
 * the CPU counterpart is model/forward.c dense_forward_cached, whose semantics this mirrors).
 *
 * The cache keeps, per layer, the fused q|k|v rows after RoPE of every position of every
 * sequence (b->kvc[l], [rows·L][(Hq+2Hkv)·hd] in the activation dtype). A whole-canvas pass
 * (r0 = 0, n = L) runs the ordinary layer sequence with each layer's projections written
 * straight into its cache buffer. A band pass computes positions [r0, r0+n) of each sequence
 * only: packed activations [B·n], RoPE at positions r0.., the fresh q|k|v rows copied into the
 * cache (one 2-D copy per layer), attention of the band's queries against all L cached keys
 * (cu_attention_rows), and the final hidden rows copied into b->hid at their canvas rows, so the
 * LM head's row indices are those of a whole pass. Band passes run eagerly (their shape moves
 * with the block); whole passes too, so the graph of the uncached path is left alone.
 */
#include <stdlib.h>
#include <string.h>
#include "backend.cuh"
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/embed.cuh"
#include "kernels/cuda/rmsnorm.cuh"
#include "kernels/cuda/rope.cuh"
#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/swiglu.cuh"

void cache_free(cuda_backend_t *b) {
    for (int l = 0; b->kvc && l < b->cfg.n_layers; l++) cudaFree(b->kvc[l]);
    free(b->kvc);
    b->kvc = NULL;
    b->kvc_rows = b->kvc_L = 0;
}

static int cache_reserve(cuda_backend_t *b, int B, int L) {
    if (b->kvc && B <= b->kvc_rows && L == b->kvc_L) return 0;
    const llada_config_t *c = &b->cfg;
    cache_free(b);
    size_t nqkv = (size_t)(c->n_heads + 2 * c->n_kv_heads) * c->head_dim;
    b->kvc = (void **)calloc((size_t)c->n_layers, sizeof *b->kvc);
    if (!b->kvc) return cu_fail(__FILE__, __LINE__, "calloc", "out of host memory");
    for (int l = 0; l < c->n_layers; l++) CU_CHECK(cudaMalloc(&b->kvc[l], (size_t)B * L * nqkv * cu_dtype_size(b->wt)));
    b->kvc_rows = B;
    b->kvc_L = L;
    return 0;
}

int forward_cached(cuda_backend_t *b, int B, int L, int r0, int n) {
    const llada_config_t *c = &b->cfg;
    bool whole = r0 == 0 && n == L;
    CU_REQUIRE(B <= b->cap_rows && L == b->cap_L && r0 >= 0 && n > 0 && r0 + n <= L);
    if (whole && cache_reserve(b, B, L)) return -1;
    CU_REQUIRE(b->kvc && B <= b->kvc_rows && L == b->kvc_L);
    int T = B * n, d = c->d_model, hd = c->head_dim, Hq = c->n_heads, Hkv = c->n_kv_heads;
    int qd = Hq * hd, nqkv = qd + 2 * Hkv * hd, F = c->mlp_hidden_size;
    size_t es = cu_dtype_size(b->wt);
    float eps = (float)c->rms_norm_eps;
    cu_dtype_t t = b->wt;
    if (cu_embed(b->x, b->wte, t, b->tok, T, d, b->st)) return -1;
    for (int l = 0; l < c->n_layers; l++) {
        const cu_layer_t *ly = &b->layers[l];
        void *qkv = whole ? b->kvc[l] : b->qkv;
        if (cu_rmsnorm(b->xn, t, b->x, ly->attn_norm, T, d, eps, b->st) ||
            cu_gemm(b->blas, qkv, t, b->xn, d, ly->wqkv, t, T, nqkv, d, 0.0f) ||
            cu_rope_at(qkv, t, T, n, r0, nqkv, Hq + Hkv, hd, b->cos_t, b->sin_t, b->st))
            return -1;
        if (!whole) /* the band's fresh rows into the cache: B blocks of n rows, L rows apart */
            CU_CHECK(cudaMemcpy2DAsync((char *)b->kvc[l] + (size_t)r0 * nqkv * es, (size_t)L * nqkv * es, b->qkv,
                                       (size_t)n * nqkv * es, (size_t)n * nqkv * es, B, cudaMemcpyDeviceToDevice,
                                       b->st));
        if (cu_attention_rows(b->ao, b->kvc[l], t, b->keep, B, L, r0, n, Hq, Hkv, hd, b->st) ||
            cu_gemm(b->blas, b->x, CU_F32, b->ao, qd, ly->wo, t, T, d, qd, 1.0f) ||
            cu_rmsnorm(b->xn, t, b->x, ly->ff_norm, T, d, eps, b->st) ||
            cu_gemm(b->blas, b->gu, t, b->xn, d, ly->wgu, t, T, 2 * F, d, 0.0f) || cu_swiglu(b->gu, t, T, F, b->st) ||
            cu_gemm(b->blas, b->x, CU_F32, b->gu, 2 * F, ly->wdown, t, T, d, F, 1.0f))
            return -1;
    }
    if (cu_rmsnorm(whole ? b->hid : b->xn, t, b->x, b->ln_f, T, d, eps, b->st)) return -1;
    if (!whole)
        CU_CHECK(cudaMemcpy2DAsync((char *)b->hid + (size_t)r0 * d * es, (size_t)L * d * es, b->xn, (size_t)n * d * es,
                                   (size_t)n * d * es, B, cudaMemcpyDeviceToDevice, b->st));
    return 0;
}

int cuda_backend_step_rows(cuda_backend_t *b, const sampler_opts_t *o, const int32_t *tokens, const uint8_t *keep,
                           int nB, int B, int L, int r0, int r1, const int *crow, const int *cpos,
                           const uint64_t *prefix, int nc, rm_cand_t *out, lerr_t *e) {
    bool cfg = o->cfg_scale > 0, whole = r0 == 0 && r1 == L;
    int n = r1 - r0;
    if (nB != (cfg ? 2 * B : B) || nc < 0 || nc > B * L || r0 < 0 || r1 > L || n <= 0)
        return lerr_set(e, EXIT_INTERNAL,
                        "CUDA cached step: %d rows for a batch of %d (cfg %s), %d candidates, "
                        "positions [%d, %d) of %d",
                        nB, B, cfg ? "on" : "off", nc, r0, r1, L);
    if (!whole && (!b->kvc || nB > b->kvc_rows || L != b->kvc_L || nB > b->cap_rows || L != b->cap_L))
        return lerr_set(e, EXIT_INTERNAL, "CUDA cached step on positions [%d, %d) before a whole-canvas step", r0, r1);
    cu_clear_error();
    int32_t *rows = (int32_t *)malloc(((size_t)2 * nc + 1) * sizeof *rows);
    int32_t *band = whole ? NULL : (int32_t *)malloc((size_t)nB * n * sizeof *band);
    rm_cand_t *tmp = (rm_cand_t *)malloc(((size_t)nc + 1) * sizeof *tmp);
    int rc = 0;
    if (!rows || !tmp || (!whole && !band)) rc = lerr_set(e, EXIT_INTERNAL, "out of memory for %d candidates", nc);
    if (!rc && whole) rc = upload_inputs(b, tokens, keep, nB, L, e);
    else if (!rc) { /* the band's tokens, packed [nB][n]; keep as a whole */
        for (int j = 0; j < nB && !rc; j++)
            for (int p = 0; p < n && !rc; p++) {
                int32_t tk = tokens[(size_t)j * L + r0 + p];
                if (tk < 0 || tk >= b->cfg.embedding_size)
                    rc = lerr_set(e, EXIT_DATA, "token id %d outside the model's vocabulary [0, %d)", tk,
                                  b->cfg.embedding_size);
                band[(size_t)j * n + p] = tk;
            }
        cudaError_t r1e =
            rc ? cudaSuccess : cudaMemcpyAsync(b->tok, band, (size_t)nB * n * 4, cudaMemcpyHostToDevice, b->st);
        cudaError_t r2e = rc     ? cudaSuccess
                          : keep ? cudaMemcpyAsync(b->keep, keep, (size_t)nB * L, cudaMemcpyHostToDevice, b->st)
                                 : cudaMemsetAsync(b->keep, 1, (size_t)nB * L, b->st);
        if (!rc && (r1e != cudaSuccess || r2e != cudaSuccess)) {
            cu_fail(__FILE__, __LINE__, "cudaMemcpyAsync(band tokens, keep)",
                    cudaGetErrorString(r1e != cudaSuccess ? r1e : r2e));
            rc = backend_error(e, "input upload");
        }
    }
    for (int i = 0; !rc && i < nc; i++) {
        if (crow[i] < 0 || crow[i] >= B || cpos[i] < 0 || cpos[i] >= L)
            rc = lerr_set(e, EXIT_INTERNAL, "CUDA step: candidate %d at (%d, %d) outside %d x %d", i, crow[i], cpos[i],
                          B, L);
        rows[i] = crow[i] * L + cpos[i];
        rows[nc + i] = (B + crow[i]) * L + cpos[i];
    }
    if (!rc && (forward_cached(b, nB, L, r0, n) || step_head(b, o, rows, prefix, nc, tmp)))
        rc = backend_error(e, "cached step");
    if (!rc && nc == 0) {
        cudaError_t se = cudaStreamSynchronize(b->st);
        if (se != cudaSuccess) {
            cu_fail(__FILE__, __LINE__, "cudaStreamSynchronize", cudaGetErrorString(se));
            rc = backend_error(e, "cached step");
        }
    }
    for (int i = 0; !rc && i < nc; i++) {
        int32_t pos = out[i].pos;
        out[i] = tmp[i];
        out[i].pos = pos;
    }
    free(rows);
    free(band);
    free(tmp);
    return rc;
}

int cuda_sampler_step_rows(void *ctx, const sampler_opts_t *o, const int32_t *tokens, const uint8_t *keep, int nB,
                           int B, int L, int r0, int r1, const int *crow, const int *cpos, const uint64_t *prefix,
                           int nc, rm_cand_t *out, lerr_t *e) {
    return cuda_backend_step_rows((cuda_backend_t *)ctx, o, tokens, keep, nB, B, L, r0, r1, crow, cpos, prefix, nc, out,
                                  e);
}
