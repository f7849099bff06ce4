/* embed.cu — embedding gather (see embed.cuh). One block row per token, threads over d. */
#include "embed.cuh"

template <typename T> __global__ void embed_kernel(float *x, const T *E, const int32_t *tok, int d) {
    int t = blockIdx.x;
    const T *row = E + (size_t)tok[t] * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) x[(size_t)t * d + i] = ld_f(row, i);
}

int cu_embed(float *x, const void *E, cu_dtype_t et, const int32_t *tok, int T, int d, cudaStream_t st) {
    CU_REQUIRE(x && E && tok && T > 0 && d > 0);
    int th = d >= 256 ? 256 : 32 * cu_div_up(d, 32);
    if (et == CU_BF16) embed_kernel<<<T, th, 0, st>>>(x, (const __nv_bfloat16 *)E, tok, d);
    else embed_kernel<<<T, th, 0, st>>>(x, (const float *)E, tok, d);
    CU_LAUNCHED();
    return 0;
}
