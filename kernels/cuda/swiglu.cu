/* swiglu.cu — in-place SwiGLU over [T][2F] (see swiglu.cuh); grid-stride over T·F. Each
 * element is read and written by one thread, so the in-place update has no hazard. */
#include "swiglu.cuh"

template <typename T> __global__ void swiglu_kernel(T *gu, int F, size_t n) {
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n; k += (size_t)gridDim.x * blockDim.x) {
        size_t t = k / F, i = k % F, a = t * 2 * F + i;
        float g = ld_f(gu, a), u = ld_f(gu, a + F);
        st_f(gu, a, g / (1.0f + expf(-g)) * u);
    }
}

int cu_swiglu(void *gu, cu_dtype_t t, int T, int F, cudaStream_t st) {
    CU_REQUIRE(gu && T > 0 && F > 0);
    size_t n = (size_t)T * F;
    int th = 256, bl = (int)(n / th + 1 < 65536 ? n / th + 1 : 65536);
    if (t == CU_BF16) swiglu_kernel<<<bl, th, 0, st>>>((__nv_bfloat16 *)gu, F, n);
    else swiglu_kernel<<<bl, th, 0, st>>>((float *)gu, F, n);
    CU_LAUNCHED();
    return 0;
}
