/* backend_cuda.h — the CUDA + cuBLAS denoise backend, callable from C.
 *
 * Holds a LLaDA model on one GPU (bf16 weights for the fast path; f32 for the validation
 * path that matches the CPU to float rounding) and runs, per reverse step, the whole forward
 * pass of a batch of canvases (captured once per shape in a CUDA graph and replayed), the LM
 * head on the eligible masked positions only, and the per-position sampling summaries over
 * the full vocabulary (kernels/cuda/summarise.cuh): only tokens go up and one rm_cand_t per
 * candidate comes back. Built only when nvcc exists (LLADA_CUDA), from denoise/cuda/.
 *
 * Errors: every function returns -1 / NULL with `e` set (EXIT_INTERNAL with the failing
 * CUDA/cuBLAS statement, file and line; EXIT_DATA for bad token ids; EXIT_USAGE for shapes
 * the backend cannot run). No function exits or prints.
 */
#ifndef LLADA_BACKEND_CUDA_H
#define LLADA_BACKEND_CUDA_H

#ifdef __cplusplus
extern "C" {
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "model/model.h"
#include "sampler.h"

typedef enum {
    CUDA_PREC_AUTO = 0, /* bf16 for bf16 checkpoints, f32 for f32 / f16 ones */
    CUDA_PREC_BF16 = 1, /* bf16 weights and GEMM inputs, fp32 accumulation and residual */
    CUDA_PREC_F32 = 2   /* f32 everywhere, no TF32: the exactness/validation path */
} cuda_prec_t;

typedef struct cuda_backend cuda_backend_t;

/* Number of usable CUDA devices; 0 with a reason in why[n] ("no CUDA driver", ...). Never
 * fails otherwise; safe on machines without a GPU or driver. */
int cuda_probe(char *why, size_t n);

/* Device bytes a backend needs for this model at up to `rows` sequences of L tokens
 * (weights + activations + LM-head chunk + cuBLAS workspace; excludes the CUDA context). */
size_t cuda_plan_bytes(const llada_config_t *c, cuda_prec_t prec, int rows, int L);
/* The precision AUTO resolves to for a weight dtype: bf16 for bf16 weights and GGUF block-quantised
 * ones (dequantised once at upload), f32 otherwise. */
cuda_prec_t cuda_prec_resolve(cuda_prec_t p, wtype_t weights);

/* Upload a model to device 0 (the model may be destroyed afterwards). Activation buffers
 * are allocated lazily and grow with the largest batch seen. NULL with `e` set. */
cuda_backend_t *cuda_backend_new(const model_t *m, cuda_prec_t prec, lerr_t *e);
/* A model of config c with random weights generated on the device (benchmarks). */
cuda_backend_t *cuda_backend_new_random(const llada_config_t *c, cuda_prec_t prec, uint64_t seed, lerr_t *e);
void cuda_backend_destroy(cuda_backend_t **b);
cuda_prec_t cuda_backend_prec(const cuda_backend_t *b);
/* "NVIDIA H200 (sm_90, 132 SMs, 139.8 GiB)" — valid while b lives. */
const char *cuda_backend_device(const cuda_backend_t *b);

/* NULL while the forward runs as a CUDA graph; else why graphs were turned off. */
const char *cuda_backend_graph_note(const cuda_backend_t *b);

/* Make buffers for up to `rows` sequences of L tokens (optional: the calls below grow them).
 * The forward of a new shape runs eagerly once, is captured into a graph the second time and
 * replayed from then on. */
int cuda_backend_reserve(cuda_backend_t *b, int rows, int L, lerr_t *e);

/* Full logits [B][L][embedding_size] (host, caller-allocated) of tokens [B][L] with
 * keep [B][L] (1 real, 0 left padding; NULL all real). For tests and --logits. */
int cuda_backend_logits(cuda_backend_t *b, const int32_t *tokens, const uint8_t *keep, int B, int L, float *logits,
                        lerr_t *e);

/* One reverse step's model work. tokens [nB][L] (nB = B, or 2B with CFG: rows B..2B-1 are
 * the unconditional copies), keep as above. For each candidate i < nc (row crow[i] < B,
 * canvas index cpos[i] < L, Gumbel prefix prefix[i] as sampler.c computes it), writes
 * out[i] = the summary sampler_summarise() would produce from the (CFG-combined) logits of
 * that position; out[i].pos is left unchanged. */
int cuda_backend_step(cuda_backend_t *b, const sampler_opts_t *o, const int32_t *tokens, const uint8_t *keep, int nB,
                      int B, int L, const int *crow, const int *cpos, const uint64_t *prefix, int nc, rm_cand_t *out,
                      lerr_t *e);
/* The same with the sampler's backend signature (sampler.h sampler_backend_t.step; ctx is
 * the cuda_backend_t): denoise sets so.backend = &(sampler_backend_t){cuda_sampler_step, b}. */
int cuda_sampler_step(void *ctx, const sampler_opts_t *o, const int32_t *tokens, const uint8_t *keep, int nB, int B,
                      int L, const int *crow, const int *cpos, const uint64_t *prefix, int nc, rm_cand_t *out,
                      lerr_t *e);

/* The step of a KV-cache run (sampler.h sampler_backend_t.step_rows; denoise/cuda/cached.cu):
 * r0 == 0 && r1 == L runs the whole canvas and keeps every layer's K/V on the device; otherwise
 * only positions [r0, r1) of every row are recomputed against them (the other positions keep
 * the hidden states of the last whole step), which must have been a whole step of the same
 * nB x L. Summaries as cuda_backend_step. Cache memory: n_layers x nB x L x (Hq+2Hkv)·hd
 * elements of the activation dtype. */
int cuda_backend_step_rows(cuda_backend_t *b, const sampler_opts_t *o, const int32_t *tokens, const uint8_t *keep,
                           int nB, int B, int L, int r0, int r1, const int *crow, const int *cpos,
                           const uint64_t *prefix, int nc, rm_cand_t *out, lerr_t *e);
int cuda_sampler_step_rows(void *ctx, const sampler_opts_t *o, const int32_t *tokens, const uint8_t *keep, int nB,
                           int B, int L, int r0, int r1, const int *crow, const int *cpos, const uint64_t *prefix,
                           int nc, rm_cand_t *out, lerr_t *e);

/* Benchmark an 8B-shaped LLaDA (c; random bf16 weights made on the device): cuBLAS bf16
 * rate, forward ms and MFU, GEMM / attention / other split, full step with summaries, for
 * canvases Ls[nL] x batches Bs[nB]; prints one table to out. */
int cuda_bench_run(const llada_config_t *c, const int *Ls, int nL, const int *Bs, int nBs, FILE *out, lerr_t *e);

#ifdef __cplusplus
}
#endif
#endif
