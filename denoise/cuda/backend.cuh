/* backend.cuh — private state of the CUDA backend (denoise/backend_cuda.h), shared by
 * backend.cu (buffers, forward, graph, step), weights.cu (upload / random weights) and
 * bench.cu. Sizes of every device buffer come from one function (plan_sizes) so the memory
 * plan that cuda_plan_bytes reports is the one the allocator follows. */
#ifndef LLADA_CUDA_BACKEND_CUH
#define LLADA_CUDA_BACKEND_CUH

#include "kernels/cuda/common.cuh"
#include "denoise/backend_cuda.h"

enum { HEAD_ROWS = 512 };                              /* LM-head chunk (rows of logits) */
enum { SKIP_GEMM = 1, SKIP_ATTN = 2, SKIP_OTHER = 4 }; /* bench: leave a phase out */
#define CUBLAS_WS_BYTES ((size_t)32 << 20)

typedef struct {
    float *attn_norm, *ff_norm; /* f32 [d] */
    void *wqkv;                 /* [(Hq+2Hkv)·hd][d]: q, k, v rows stacked */
    void *wo;                   /* [d][Hq·hd] */
    void *wgu;                  /* [2F][d]: gate (ff_proj) rows, then up rows */
    void *wdown;                /* [d][F] */
} cu_layer_t;

/* Element counts of every buffer for (rows, L). */
typedef struct {
    size_t weights_bytes;
    size_t x, xn, qkv, ao, gu, hid; /* activations (x f32, others act dtype) */
    size_t tok, keep, rows, prefix, cand;
    size_t hc, lc; /* head chunk: hidden rows, f32 logits (x2 with CFG) */
    size_t total_bytes;
} plan_t;

struct cuda_backend {
    llada_config_t cfg;
    cu_dtype_t wt; /* weight / GEMM-input / activation dtype */
    char device[400];
    cudaStream_t st;
    cublasHandle_t blas;
    void *ws;
    /* weights */
    void *wte, *head; /* head == wte when tied */
    float *ln_f;
    cu_layer_t *layers;
    float *cos_t, *sin_t; /* [cap_L][hd/2] */
    /* activations, sized for cap_rows x cap_L */
    int cap_rows, cap_L;
    float *x;
    void *xn, *qkv, *ao, *gu, *hid;
    int32_t *tok, *rows; /* rows: [2·cap] candidate row indices (cond, then uncond) */
    uint8_t *keep;
    uint64_t *prefix;
    rm_cand_t *cand;
    void *hc, *hu;
    float *lc, *lu;
    /* forward graph for (graph_B, graph_L) */
    bool use_graph;
    cudaGraphExec_t graph;
    int graph_B, graph_L;
    int warm_B, warm_L;   /* shape of the last eager forward (captured next time) */
    char graph_note[600]; /* why graphs were turned off ("" while they work) */
    int skip;             /* SKIP_* bits (bench only; 0 otherwise) */
    /* KV cache of denoise --cache (cached.cu): per layer the fused q|k|v rows after RoPE of
     * every position of kvc_rows x kvc_L sequences (act dtype), written by a whole-canvas pass
     * and read by the band passes; allocated on first use */
    void **kvc; /* [n_layers] */
    int kvc_rows, kvc_L;
};

plan_t plan_sizes(const llada_config_t *c, cu_dtype_t wt, int rows, int L);
/* Common part of the two constructors: device, stream, cuBLAS, workspace. */
cuda_backend_t *backend_alloc(const llada_config_t *c, cu_dtype_t wt, lerr_t *e);
/* Weights (weights.cu). */
int weights_upload(cuda_backend_t *b, const model_t *m);
int weights_random(cuda_backend_t *b, uint64_t seed);
void weights_free(cuda_backend_t *b);
/* Enqueue the forward of B x L tokens already on the device (graph or eager). */
int forward_run(cuda_backend_t *b, int B, int L);
int forward_enqueue(cuda_backend_t *b, int B, int L);
/* Validate (ids < embedding_size: EXIT_DATA) and upload tokens [B][L] and keep (NULL -> all
 * ones), growing the buffers as needed. */
int upload_inputs(cuda_backend_t *b, const int32_t *tokens, const uint8_t *keep, int B, int L, lerr_t *e);
/* KV-cache passes (cached.cu): r0 == 0 && n == L the whole canvas, filling the cache; else
 * positions [r0, r0+n) of each of the B sequences against it (tokens of those positions
 * packed [B][n] in b->tok, keep [B][L] in b->keep); hidden rows [r0, r0+n) of b->hid
 * written, the others kept. Eager (no graph). */
int forward_cached(cuda_backend_t *b, int B, int L, int r0, int n);
void cache_free(cuda_backend_t *b);
/* LM head + CFG + summaries of the nc candidates at hid rows rows[] (forward.cu). */
int step_head(cuda_backend_t *b, const sampler_opts_t *o, const int32_t *rows, const uint64_t *prefix, int nc,
              rm_cand_t *tmp);
/* Convert the thread's recorded CUDA failure into e (EXIT_INTERNAL); returns -1. */
int backend_error(lerr_t *e, const char *what);

#endif
