/* gemm.cuh — y[M][N] = x[M][K] · W[N][K]ᵀ (+ beta·y) through cuBLAS, fp32 accumulation.
 *
 * x and W share one dtype (bf16 for the fast path, f32 for the validation path); y is f32
 * (residual stream, logits) or the activation dtype. beta = 1 with an f32 y fuses the
 * residual add into the GEMM epilogue. Row-major PyTorch layout is mapped onto column-major
 * cuBLAS as yᵀ = W·xᵀ (op(W) = T), so no transposes are materialised. With f32 inputs the
 * compute type is plain CUBLAS_COMPUTE_32F (no TF32), so the validation path matches the
 * CPU to float rounding. The handle must have a workspace set (cublasSetWorkspace) for the
 * call to be capturable into a CUDA graph.
 */
#ifndef LLADA_CU_GEMM_CUH
#define LLADA_CU_GEMM_CUH
#include "common.cuh"

/* ldx: row stride of x in elements (>= K); W is dense [N][K]; y dense [M][N]. */
int cu_gemm(cublasHandle_t h, void *y, cu_dtype_t yt, const void *x, int ldx, const void *W, cu_dtype_t wt, int M,
            int N, int K, float beta);

#endif
