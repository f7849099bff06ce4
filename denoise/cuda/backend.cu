/* backend.cu — the CUDA denoise backend's lifecycle (see denoise/backend_cuda.h): device
 * probe and setup (stream, cuBLAS handle with a fixed workspace so GEMMs can be captured in
 * graphs, never TF32), the memory plan, and the activation buffers, which grow with the
 * largest batch seen. The forward pass and the step are in forward.cu. */
#include <stdlib.h>
#include <string.h>
#include "backend.cuh"
#include "kernels/cuda/attention.cuh"

int backend_error(lerr_t *e, const char *what) {
    return lerr_set(e, EXIT_INTERNAL, "CUDA %s failed: %s", what, cu_last_error());
}

int cuda_probe(char *why, size_t n) {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count <= 0) {
        if (why) snprintf(why, n, "%s", err != cudaSuccess ? cudaGetErrorString(err) : "no CUDA device");
        cudaGetLastError();
        return 0;
    }
    return count;
}

cuda_prec_t cuda_prec_resolve(cuda_prec_t p, wtype_t weights) {
    if (p != CUDA_PREC_AUTO) return p;
    return weights == WT_BF16 || wtype_is_quant(weights) ? CUDA_PREC_BF16
                                                         : CUDA_PREC_F32; /* GGUF: dequantised to bf16 */
}

plan_t plan_sizes(const llada_config_t *c, cu_dtype_t wt, int rows, int L) {
    plan_t p;
    size_t es = cu_dtype_size(wt), d = c->d_model, hd = c->head_dim, qd = (size_t)c->n_heads * hd,
           nqkv = qd + 2 * (size_t)c->n_kv_heads * hd, F = c->mlp_hidden_size, E = c->embedding_size,
           R = (size_t)rows * L;
    size_t per_layer = (nqkv * d + d * qd + 2 * F * d + d * F) * es + 2 * d * 4;
    p.weights_bytes = c->n_layers * per_layer + E * d * es * (c->weight_tying ? 1 : 2) + d * 4;
    p.x = R * d;
    p.xn = R * d;
    p.qkv = R * nqkv;
    p.ao = R * qd;
    p.gu = R * 2 * F;
    p.hid = R * d;
    p.tok = R;
    p.keep = R;
    p.rows = 2 * R;
    p.prefix = R;
    p.cand = R;
    p.hc = (size_t)HEAD_ROWS * d;
    p.lc = (size_t)HEAD_ROWS * E;
    p.total_bytes = p.weights_bytes + p.x * 4 + (p.xn + p.qkv + p.ao + p.gu + p.hid) * es + p.tok * 4 + p.keep +
                    p.rows * 4 + p.prefix * 8 + p.cand * sizeof(rm_cand_t) + 2 * (p.hc * es + p.lc * 4) +
                    (size_t)L * hd * 4 + CUBLAS_WS_BYTES;
    return p;
}

size_t cuda_plan_bytes(const llada_config_t *c, cuda_prec_t prec, int rows, int L) {
    return plan_sizes(c, prec == CUDA_PREC_F32 ? CU_F32 : CU_BF16, rows, L).total_bytes;
}

/* ---- lifecycle ---- */

static int device_setup(cuda_backend_t *b) {
    cudaDeviceProp pr;
    CU_CHECK(cudaSetDevice(0));
    CU_CHECK(cudaGetDeviceProperties(&pr, 0));
    snprintf(b->device, sizeof b->device, "%s (sm_%d%d, %d SMs, %.1f GiB)", pr.name, pr.major, pr.minor,
             pr.multiProcessorCount, pr.totalGlobalMem / 1073741824.0);
    CU_CHECK(cudaStreamCreateWithFlags(&b->st, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&b->blas));
    CUBLAS_CHECK(cublasSetStream(b->blas, b->st));
    CU_CHECK(cudaMalloc(&b->ws, CUBLAS_WS_BYTES));
    CUBLAS_CHECK(cublasSetWorkspace(b->blas, b->ws, CUBLAS_WS_BYTES));
    CUBLAS_CHECK(cublasSetMathMode(b->blas, CUBLAS_DEFAULT_MATH)); /* never TF32 */
    return cu_attention_init();
}

cuda_backend_t *backend_alloc(const llada_config_t *c, cu_dtype_t wt, lerr_t *e) {
    char why[160];
    if (!cuda_probe(why, sizeof why)) {
        lerr_set(e, EXIT_INTERNAL, "no usable CUDA device: %s", why);
        return NULL;
    }
    if (c->n_heads % c->n_kv_heads || c->head_dim % 2 || (wt == CU_BF16 && c->head_dim > 128)) {
        lerr_set(e, EXIT_USAGE,
                 "the CUDA backend needs n_heads %% n_kv_heads == 0, an even head_dim "
                 "and head_dim <= 128 in bf16 (have %d/%d heads, head_dim %d)",
                 c->n_heads, c->n_kv_heads, c->head_dim);
        return NULL;
    }
    cuda_backend_t *b = (cuda_backend_t *)calloc(1, sizeof *b);
    if (!b) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    b->cfg = *c;
    b->wt = wt;
    const char *g = getenv("LLADA_CUDA_GRAPH");
    b->use_graph = !(g && !strcmp(g, "0"));
    cu_clear_error();
    if (device_setup(b)) {
        backend_error(e, "setup");
        cuda_backend_destroy(&b);
    }
    return b;
}

cuda_backend_t *cuda_backend_new(const model_t *m, cuda_prec_t prec, lerr_t *e) {
    prec = cuda_prec_resolve(prec, m->cfg.dtype);
    cuda_backend_t *b = backend_alloc(&m->cfg, prec == CUDA_PREC_F32 ? CU_F32 : CU_BF16, e);
    if (b && weights_upload(b, m)) {
        backend_error(e, "weight upload");
        cuda_backend_destroy(&b);
    }
    return b;
}

cuda_backend_t *cuda_backend_new_random(const llada_config_t *c, cuda_prec_t prec, uint64_t seed, lerr_t *e) {
    cuda_backend_t *b = backend_alloc(c, prec == CUDA_PREC_F32 ? CU_F32 : CU_BF16, e);
    if (b && weights_random(b, seed)) {
        backend_error(e, "random weights");
        cuda_backend_destroy(&b);
    }
    return b;
}

static void buffers_free(cuda_backend_t *b) {
    void *p[] = {b->x,      b->xn,   b->qkv, b->ao, b->gu, b->hid, b->tok,   b->rows, b->keep,
                 b->prefix, b->cand, b->hc,  b->hu, b->lc, b->lu,  b->cos_t, b->sin_t};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) cudaFree(p[i]);
    b->x = b->lc = b->lu = b->cos_t = b->sin_t = NULL;
    b->xn = b->qkv = b->ao = b->gu = b->hid = b->hc = b->hu = NULL;
    b->tok = b->rows = NULL;
    b->keep = NULL;
    b->prefix = NULL;
    b->cand = NULL;
    if (b->graph) cudaGraphExecDestroy(b->graph);
    b->graph = NULL;
    b->graph_B = b->graph_L = b->warm_B = b->warm_L = b->cap_rows = b->cap_L = 0;
    cache_free(b); /* refilled by the next whole-canvas cached step */
}

void cuda_backend_destroy(cuda_backend_t **bp) {
    cuda_backend_t *b = bp ? *bp : NULL;
    if (!b) return;
    if (b->st) cudaStreamSynchronize(b->st);
    buffers_free(b);
    weights_free(b);
    if (b->blas) cublasDestroy(b->blas);
    cudaFree(b->ws);
    if (b->st) cudaStreamDestroy(b->st);
    cudaGetLastError();
    free(b);
    *bp = NULL;
}

cuda_prec_t cuda_backend_prec(const cuda_backend_t *b) { return b->wt == CU_F32 ? CUDA_PREC_F32 : CUDA_PREC_BF16; }
const char *cuda_backend_device(const cuda_backend_t *b) { return b->device; }

/* ---- buffers ---- */

static int buffers_alloc(cuda_backend_t *b, int rows, int L) {
    const llada_config_t *c = &b->cfg;
    plan_t p = plan_sizes(c, b->wt, rows, L);
    size_t es = cu_dtype_size(b->wt), half = (size_t)L * c->head_dim / 2;
    CU_CHECK(cudaMalloc(&b->x, p.x * 4));
    CU_CHECK(cudaMalloc(&b->xn, p.xn * es));
    CU_CHECK(cudaMalloc(&b->qkv, p.qkv * es));
    CU_CHECK(cudaMalloc(&b->ao, p.ao * es));
    CU_CHECK(cudaMalloc(&b->gu, p.gu * es));
    CU_CHECK(cudaMalloc(&b->hid, p.hid * es));
    CU_CHECK(cudaMalloc(&b->tok, p.tok * 4));
    CU_CHECK(cudaMalloc(&b->keep, p.keep));
    CU_CHECK(cudaMalloc(&b->rows, p.rows * 4));
    CU_CHECK(cudaMalloc(&b->prefix, p.prefix * 8));
    CU_CHECK(cudaMalloc(&b->cand, p.cand * sizeof(rm_cand_t)));
    CU_CHECK(cudaMalloc(&b->hc, p.hc * es));
    CU_CHECK(cudaMalloc(&b->hu, p.hc * es));
    CU_CHECK(cudaMalloc(&b->lc, p.lc * 4));
    CU_CHECK(cudaMalloc(&b->lu, p.lc * 4));
    float *ct = (float *)malloc(half * 4), *stt = (float *)malloc(half * 4);
    if (!ct || !stt) {
        free(ct);
        free(stt);
        return cu_fail(__FILE__, __LINE__, "malloc", "out of host memory");
    }
    rope_tables(ct, stt, L, c->head_dim, c->rope_theta);
    cudaError_t e1 = cudaMalloc(&b->cos_t, half * 4), e2 = cudaMalloc(&b->sin_t, half * 4);
    if (e1 == cudaSuccess && e2 == cudaSuccess) {
        e1 = cudaMemcpy(b->cos_t, ct, half * 4, cudaMemcpyHostToDevice);
        e2 = cudaMemcpy(b->sin_t, stt, half * 4, cudaMemcpyHostToDevice);
    }
    free(ct);
    free(stt);
    CU_CHECK(e1);
    CU_CHECK(e2);
    b->cap_rows = rows;
    b->cap_L = L;
    return 0;
}

int cuda_backend_reserve(cuda_backend_t *b, int rows, int L, lerr_t *e) {
    if (rows <= 0 || L <= 0) return lerr_set(e, EXIT_USAGE, "CUDA backend: bad batch %d x %d", rows, L);
    if (rows <= b->cap_rows && L == b->cap_L) return 0;
    int r = rows > b->cap_rows ? rows : b->cap_rows;
    if (L != b->cap_L) r = rows;
    cudaStreamSynchronize(b->st);
    buffers_free(b);
    cu_clear_error();
    if (buffers_alloc(b, r, L)) {
        buffers_free(b);
        return lerr_set(e, EXIT_INTERNAL,
                        "CUDA: cannot allocate activations for %d x %d tokens "
                        "(plan %.2f GiB): %s",
                        r, L, cuda_plan_bytes(&b->cfg, cuda_backend_prec(b), r, L) / 1073741824.0, cu_last_error());
    }
    return 0;
}
