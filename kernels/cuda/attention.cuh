/* attention.cuh — fused bidirectional multi-head attention with a key padding mask.
 *
 * Input is the fused projection buffer qkv [B·L][(Hq + 2·Hkv)·hd] after RoPE (q heads, then
 * k heads, then v heads; GQA: query head h reads kv head h / (Hq/Hkv)); output ao
 * [B·L][Hq·hd]. keep [B][L] (1 = real key, 0 = left padding hidden from every query; NULL =
 * all real). Padding queries are computed like real ones (as LLaDA does). Scale 1/sqrt(hd).
 * Mirrors kernels.h attention(); a query whose keys are all hidden gets zeros.
 *
 * bf16: flash-style (never materialises L×L): a block of 4 warps owns 64 queries of one
 * head; key tiles of 64 are staged in shared memory, Q·Kᵀ and P·V run on the tensor cores
 * (WMMA 16×16×16 bf16, fp32 accumulate) with an online softmax in fp32 (exp2, running max
 * and sum per row). Head dims are zero-padded to 16/32/64/128 in shared memory.
 * f32: the validation path, one block per (query, head), scalar fp32 products and double
 * softmax sums like the CPU; O(L) shared memory, for small models and exactness checks.
 */
#ifndef LLADA_CU_ATTENTION_CUH
#define LLADA_CU_ATTENTION_CUH
#include "common.cuh"

/* Raise the dynamic shared-memory limits of the kernels; call once per process before any
 * cu_attention (and before graph capture). */
int cu_attention_init(void);
int cu_attention(void *ao, const void *qkv, cu_dtype_t t, const uint8_t *keep, int B, int L, int Hq, int Hkv, int hd,
                 cudaStream_t st);
/* The queries of positions [q_off, q_off + nq) of each sequence only, against all L keys of
 * qkv (the KV-cache steps of denoise --cache: qkv is then the cached buffer of the layer with
 * the fresh rows written in); ao is [B·nq][Hq·hd]. Mirrors kernels.h attention_rows(). */
int cu_attention_rows(void *ao, const void *qkv, cu_dtype_t t, const uint8_t *keep, int B, int L, int q_off, int nq,
                      int Hq, int Hkv, int hd, cudaStream_t st);

#endif
