/* rope.cuh — half-split (NeoX / HF rotate_half) rotary embedding, in place, on the first
 * n_heads heads of each row of a fused projection buffer (q heads then k heads; v untouched).
 * Row t has position t % L (positions are absolute per sequence, not shifted for padding, as
 * in LLaDA). Tables cos/sin [L][hd/2] come from kernels.h rope_tables (fp32 from double
 * angles), so GPU and CPU rotate by the same numbers. Mirrors kernels.h rope_apply(). */
#ifndef LLADA_CU_ROPE_CUH
#define LLADA_CU_ROPE_CUH
#include "common.cuh"

/* x: [T][row_stride] elements of xt; heads of hd elements start at column 0. */
int cu_rope(void *x, cu_dtype_t xt, int T, int L, int row_stride, int n_heads, int hd, const float *cos_t,
            const float *sin_t, cudaStream_t st);
/* The same with row t at position pos0 + t % L (L rows per sequence: a band of positions
 * [pos0, pos0 + L) of each sequence, for KV-cache steps); tables need pos0 + L rows. */
int cu_rope_at(void *x, cu_dtype_t xt, int T, int L, int pos0, int row_stride, int n_heads, int hd, const float *cos_t,
               const float *sin_t, cudaStream_t st);

#endif
