/* rmsnorm.cu — RMSNorm, one block per row, sum of squares in double like the CPU (see rmsnorm.cuh). */
#include "rmsnorm.cuh"

template <typename T> __global__ void rmsnorm_kernel(T *y, const float *x, const float *w, int D, float eps) {
    __shared__ double sh[32];
    const float *xr = x + (size_t)blockIdx.x * D;
    double ss = 0;
    for (int i = threadIdx.x; i < D; i += blockDim.x) ss += (double)xr[i] * xr[i];
    ss = block_sum(ss, sh);
    float r = (float)(1.0 / sqrt(ss / D + eps));
    for (int i = threadIdx.x; i < D; i += blockDim.x) st_f(y, (size_t)blockIdx.x * D + i, xr[i] * r * w[i]);
}

int cu_rmsnorm(void *y, cu_dtype_t yt, const float *x, const float *w, int M, int D, float eps, cudaStream_t st) {
    CU_REQUIRE(y && x && w && M > 0 && D > 0 && eps >= 0);
    int th = D >= 1024 ? 1024 : 32 * cu_div_up(D, 32);
    if (yt == CU_BF16) rmsnorm_kernel<<<M, th, 0, st>>>((__nv_bfloat16 *)y, x, w, D, eps);
    else rmsnorm_kernel<<<M, th, 0, st>>>((float *)y, x, w, D, eps);
    CU_LAUNCHED();
    return 0;
}
