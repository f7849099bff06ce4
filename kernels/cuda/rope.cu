/* rope.cu — half-split RoPE in place (see rope.cuh). Block per token, threads over
 * (head, i < hd/2) pairs; each thread rotates one (x[i], x[i + hd/2]) pair. */
#include "rope.cuh"

template <typename T>
__global__ void rope_kernel(T *x, int L, int pos0, int stride, int n_heads, int hd, const float *cos_t,
                            const float *sin_t) {
    int t = blockIdx.x, half = hd / 2, pos = pos0 + t % L;
    T *row = x + (size_t)t * stride;
    for (int j = threadIdx.x; j < n_heads * half; j += blockDim.x) {
        int h = j / half, i = j % half;
        size_t a = (size_t)h * hd + i, b = a + half;
        float c = cos_t[(size_t)pos * half + i], s = sin_t[(size_t)pos * half + i];
        float x0 = ld_f(row, a), x1 = ld_f(row, b);
        st_f(row, a, x0 * c - x1 * s);
        st_f(row, b, x1 * c + x0 * s);
    }
}

int cu_rope(void *x, cu_dtype_t xt, int T, int L, int row_stride, int n_heads, int hd, const float *cos_t,
            const float *sin_t, cudaStream_t st) {
    return cu_rope_at(x, xt, T, L, 0, row_stride, n_heads, hd, cos_t, sin_t, st);
}

int cu_rope_at(void *x, cu_dtype_t xt, int T, int L, int pos0, int row_stride, int n_heads, int hd, const float *cos_t,
               const float *sin_t, cudaStream_t st) {
    CU_REQUIRE(x && cos_t && sin_t && T > 0 && L > 0 && T % L == 0 && pos0 >= 0);
    CU_REQUIRE(hd > 0 && hd % 2 == 0 && n_heads > 0 && row_stride >= n_heads * hd);
    int pairs = n_heads * hd / 2, th = pairs >= 256 ? 256 : 32 * cu_div_up(pairs, 32);
    if (xt == CU_BF16)
        rope_kernel<<<T, th, 0, st>>>((__nv_bfloat16 *)x, L, pos0, row_stride, n_heads, hd, cos_t, sin_t);
    else rope_kernel<<<T, th, 0, st>>>((float *)x, L, pos0, row_stride, n_heads, hd, cos_t, sin_t);
    CU_LAUNCHED();
    return 0;
}
