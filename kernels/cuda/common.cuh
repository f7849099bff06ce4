/* common.cuh — shared pieces of the CUDA kernels: checked-call macros, dtypes, reductions.
 *
 * Every CUDA / cuBLAS call and every launch goes through CU_CHECK / CUBLAS_CHECK /
 * CU_LAUNCHED, which on failure record "file:line: statement: message" in a thread-local
 * buffer (cu_last_error) and make the calling function return -1. Launchers never exit:
 * the backend turns the recorded text into an lerr_t (EXIT_INTERNAL). CU_REQUIRE is the
 * thin-launcher shape/type assertion (ggml style): it fails the same way, before any launch.
 *
 * Activations and weights are either float or __nv_bfloat16 (cu_dtype_t); kernels are
 * templates over the element type with ld_f / st_f converting through fp32.
 */
#ifndef LLADA_CU_COMMON_CUH
#define LLADA_CU_COMMON_CUH

#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cublas_v2.h>
#include <stdint.h>
#include <stddef.h>
#include <math.h>

typedef enum { CU_F32 = 0, CU_BF16 = 1 } cu_dtype_t;

static inline size_t cu_dtype_size(cu_dtype_t t) { return t == CU_F32 ? 4 : 2; }

/* Record a failure; always returns -1. */
int cu_fail(const char *file, int line, const char *stmt, const char *msg);
/* The last recorded failure of this thread ("" when none). */
const char *cu_last_error(void);
void cu_clear_error(void);

#define CU_CHECK(call) \
    do { \
        cudaError_t e_ = (call); \
        if (e_ != cudaSuccess) return cu_fail(__FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
    } while (0)
#define CUBLAS_CHECK(call) \
    do { \
        cublasStatus_t s_ = (call); \
        if (s_ != CUBLAS_STATUS_SUCCESS) return cu_fail(__FILE__, __LINE__, #call, cublasGetStatusString(s_)); \
    } while (0)
#define CU_LAUNCHED() CU_CHECK(cudaGetLastError())
#define CU_REQUIRE(cond) \
    do { \
        if (!(cond)) return cu_fail(__FILE__, __LINE__, #cond, "launcher precondition failed"); \
    } while (0)

static inline int cu_div_up(long long a, long long b) { return (int)((a + b - 1) / b); }

/* ---- element access through fp32 ---- */
__device__ __forceinline__ float ld_f(const float *p, size_t i) { return p[i]; }
__device__ __forceinline__ float ld_f(const __nv_bfloat16 *p, size_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void st_f(float *p, size_t i, float v) { p[i] = v; }
__device__ __forceinline__ void st_f(__nv_bfloat16 *p, size_t i, float v) { p[i] = __float2bfloat16_rn(v); }

/* ---- block reductions (blockDim.x a multiple of 32, at most 1024) ---- */
__device__ __forceinline__ float warp_sum_f(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
/* Sum over the block; every thread gets the result. `sh` holds >= 32 elements. */
template <typename T> __device__ __forceinline__ T block_sum(T v, T *sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : (T)0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Maximum over the block; every thread gets the result. */
__device__ __forceinline__ float block_max(float v, float *sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : -INFINITY;
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

#endif
