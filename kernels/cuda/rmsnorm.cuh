/* rmsnorm.cuh — y[m][:] = x[m][:] / sqrt(mean(x[m]²) + eps) · w, x fp32 (residual stream),
 * w fp32 [D], y in the activation dtype (the GEMM input). Mirrors kernels.h rmsnorm(). */
#ifndef LLADA_CU_RMSNORM_CUH
#define LLADA_CU_RMSNORM_CUH
#include "common.cuh"

int cu_rmsnorm(void *y, cu_dtype_t yt, const float *x, const float *w, int M, int D, float eps, cudaStream_t st);

#endif
