/* weights.cu — model weights on the device for the CUDA backend.
 *
 * Upload: each host tensor (bf16, f16 or f32, usually straight from the safetensors mmap)
 * is converted on the host, one tensor at a time, to the backend dtype (bf16: f32 rounds to
 * nearest even, f16 goes through f32; f32: exact) and copied into its slot. q/k/v rows are
 * stacked into one [(Hq+2Hkv)·hd][d] matrix and gate/up into one [2F][d] matrix so each
 * block does one QKV GEMM and one gate|up GEMM; norm weights live in f32. A tied LM head
 * shares the embedding. Random: the same layout filled on the device (randfill.cuh) with
 * Linear std 1/sqrt(fan_in), norms 1 ± small, for benchmarks of full-size shapes. */
#include <stdlib.h>
#include <string.h>
#include "backend.cuh"
#include "kernels/cuda/randfill.cuh"

/* dst (device, backend dtype) <- host tensor w, n elements. */
static int put(cuda_backend_t *b, void *dst, const wtensor_t *w, size_t n) {
    size_t es = cu_dtype_size(b->wt);
    if ((b->wt == CU_BF16 && w->type == WT_BF16) || (b->wt == CU_F32 && w->type == WT_F32)) {
        CU_CHECK(cudaMemcpy(dst, w->data, n * es, cudaMemcpyHostToDevice));
        return 0;
    }
    float *f = (float *)malloc(n * sizeof *f);
    uint16_t *h = b->wt == CU_BF16 ? (uint16_t *)malloc(n * sizeof *h) : NULL;
    if (!f || (b->wt == CU_BF16 && !h)) {
        free(f);
        free(h);
        return cu_fail(__FILE__, __LINE__, "malloc", "out of host memory");
    }
    wconvert_f32(f, w->data, w->type, n);
    for (size_t i = 0; h && i < n; i++) h[i] = f32_to_bf16(f[i]);
    cudaError_t err = cudaMemcpy(dst, h ? (const void *)h : (const void *)f, n * es, cudaMemcpyHostToDevice);
    free(f);
    free(h);
    CU_CHECK(err);
    return 0;
}

/* f32 copy of a 1-D weight (norms). */
static int put_f32(float *dst, const wtensor_t *w, size_t n) {
    float *f = (float *)malloc(n * sizeof *f);
    if (!f) return cu_fail(__FILE__, __LINE__, "malloc", "out of host memory");
    wconvert_f32(f, w->data, w->type, n);
    cudaError_t err = cudaMemcpy(dst, f, n * 4, cudaMemcpyHostToDevice);
    free(f);
    CU_CHECK(err);
    return 0;
}

static int weights_alloc(cuda_backend_t *b) {
    const llada_config_t *c = &b->cfg;
    size_t es = cu_dtype_size(b->wt), d = c->d_model, hd = c->head_dim, qd = (size_t)c->n_heads * hd,
           nqkv = qd + 2 * (size_t)c->n_kv_heads * hd, F = c->mlp_hidden_size, E = c->embedding_size;
    b->layers = (cu_layer_t *)calloc(c->n_layers, sizeof *b->layers);
    if (!b->layers) return cu_fail(__FILE__, __LINE__, "calloc", "out of host memory");
    CU_CHECK(cudaMalloc(&b->wte, E * d * es));
    if (c->weight_tying) b->head = b->wte;
    else CU_CHECK(cudaMalloc(&b->head, E * d * es));
    CU_CHECK(cudaMalloc(&b->ln_f, d * 4));
    for (int l = 0; l < c->n_layers; l++) {
        cu_layer_t *y = &b->layers[l];
        CU_CHECK(cudaMalloc(&y->attn_norm, d * 4));
        CU_CHECK(cudaMalloc(&y->ff_norm, d * 4));
        CU_CHECK(cudaMalloc(&y->wqkv, nqkv * d * es));
        CU_CHECK(cudaMalloc(&y->wo, d * qd * es));
        CU_CHECK(cudaMalloc(&y->wgu, 2 * F * d * es));
        CU_CHECK(cudaMalloc(&y->wdown, d * F * es));
    }
    return 0;
}

void weights_free(cuda_backend_t *b) {
    if (b->layers)
        for (int l = 0; l < b->cfg.n_layers; l++) {
            cu_layer_t *y = &b->layers[l];
            void *p[] = {y->attn_norm, y->ff_norm, y->wqkv, y->wo, y->wgu, y->wdown};
            for (int i = 0; i < 6; i++) cudaFree(p[i]);
        }
    free(b->layers);
    b->layers = NULL;
    if (b->head != b->wte) cudaFree(b->head);
    cudaFree(b->wte);
    cudaFree(b->ln_f);
    b->wte = b->head = NULL;
    b->ln_f = NULL;
}

static int layer_upload(cuda_backend_t *b, cu_layer_t *y, const llada_layer_t *w) {
    const llada_config_t *c = &b->cfg;
    size_t es = cu_dtype_size(b->wt), d = c->d_model, qd = (size_t)c->n_heads * c->head_dim,
           kvd = (size_t)c->n_kv_heads * c->head_dim, F = c->mlp_hidden_size;
    char *qkv = (char *)y->wqkv, *gu = (char *)y->wgu;
    if (put_f32(y->attn_norm, &w->attn_norm, d) || put_f32(y->ff_norm, &w->ff_norm, d)) return -1;
    if (put(b, qkv, &w->q_proj, qd * d) || put(b, qkv + qd * d * es, &w->k_proj, kvd * d) ||
        put(b, qkv + (qd + kvd) * d * es, &w->v_proj, kvd * d))
        return -1;
    if (put(b, y->wo, &w->attn_out, d * qd)) return -1;
    if (put(b, gu, &w->ff_proj, F * d) || put(b, gu + F * d * es, &w->up_proj, F * d)) return -1;
    return put(b, y->wdown, &w->ff_out, d * F);
}

int weights_upload(cuda_backend_t *b, const model_t *m) {
    const llada_config_t *c = &b->cfg;
    size_t d = c->d_model, E = c->embedding_size;
    if (weights_alloc(b)) return -1;
    if (put(b, b->wte, &m->w.wte, E * d) || put_f32(b->ln_f, &m->w.ln_f, d)) return -1;
    if (!c->weight_tying && put(b, b->head, &m->w.lm_head, E * d)) return -1;
    for (int l = 0; l < c->n_layers; l++)
        if (layer_upload(b, &b->layers[l], &m->w.layers[l])) return -1;
    return 0;
}

int weights_random(cuda_backend_t *b, uint64_t seed) {
    const llada_config_t *c = &b->cfg;
    size_t d = c->d_model, qd = (size_t)c->n_heads * c->head_dim, nqkv = qd + 2 * (size_t)c->n_kv_heads * c->head_dim,
           F = c->mlp_hidden_size, E = c->embedding_size;
    cu_dtype_t t = b->wt;
    uint64_t k = seed * 1000;
    if (weights_alloc(b)) return -1;
    if (cu_randfill(b->wte, t, E * d, k++, 0.0f, 1.0f, b->st)) return -1;
    if (!c->weight_tying && cu_randfill(b->head, t, E * d, k++, 0.0f, 1.0f / sqrtf((float)d), b->st)) return -1;
    if (cu_randfill(b->ln_f, CU_F32, d, k++, 1.0f, 0.05f, b->st)) return -1;
    for (int l = 0; l < c->n_layers; l++) {
        cu_layer_t *y = &b->layers[l];
        if (cu_randfill(y->attn_norm, CU_F32, d, k++, 1.0f, 0.05f, b->st) ||
            cu_randfill(y->ff_norm, CU_F32, d, k++, 1.0f, 0.05f, b->st) ||
            cu_randfill(y->wqkv, t, nqkv * d, k++, 0.0f, 1.0f / sqrtf((float)d), b->st) ||
            cu_randfill(y->wo, t, d * qd, k++, 0.0f, 1.0f / sqrtf((float)qd), b->st) ||
            cu_randfill(y->wgu, t, 2 * F * d, k++, 0.0f, 1.0f / sqrtf((float)d), b->st) ||
            cu_randfill(y->wdown, t, d * F, k++, 0.0f, 1.0f / sqrtf((float)F), b->st))
            return -1;
    }
    CU_CHECK(cudaStreamSynchronize(b->st));
    return 0;
}
