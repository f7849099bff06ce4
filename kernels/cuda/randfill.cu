/* randfill.cu — counter-based random fill (see randfill.cuh), grid-stride. */
#include "randfill.cuh"
#include "crng.h"

template <typename T> __global__ void randfill_kernel(T *dst, size_t n, uint64_t seed, float mean, float std) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        double u = crng_u01_from(seed, i);
        st_f(dst, i, mean + std * (float)((2.0 * u - 1.0) * 1.7320508075688772));
    }
}

int cu_randfill(void *dst, cu_dtype_t t, size_t n, uint64_t seed, float mean, float std, cudaStream_t st) {
    CU_REQUIRE(dst && std >= 0);
    if (n == 0) return 0;
    int bl = (int)(n / 256 + 1 < 65536 ? n / 256 + 1 : 65536);
    uint64_t pre = crng_prefix(seed, CRNG_USER + 1, 0, 0, 0);
    if (t == CU_BF16) randfill_kernel<<<bl, 256, 0, st>>>((__nv_bfloat16 *)dst, n, pre, mean, std);
    else randfill_kernel<<<bl, 256, 0, st>>>((float *)dst, n, pre, mean, std);
    CU_LAUNCHED();
    return 0;
}
