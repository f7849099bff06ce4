/* swiglu.cuh — SwiGLU on the fused gate|up projection, in place:
 * gu[t][i] = silu(gu[t][i]) · gu[t][F + i] for i < F (the gate half is overwritten and the
 * down projection reads it with row stride 2F). silu(g) = g / (1 + exp(-g)), in fp32.
 * Mirrors kernels.h swiglu(). */
#ifndef LLADA_CU_SWIGLU_CUH
#define LLADA_CU_SWIGLU_CUH
#include "common.cuh"

int cu_swiglu(void *gu, cu_dtype_t t, int T, int F, cudaStream_t st);

#endif
