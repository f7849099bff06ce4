/* gemm.cu — the cuBLAS GEMM behind every projection (see gemm.cuh). */
#include "gemm.cuh"

static cudaDataType_t cuda_type(cu_dtype_t t) { return t == CU_F32 ? CUDA_R_32F : CUDA_R_16BF; }

int cu_gemm(cublasHandle_t h, void *y, cu_dtype_t yt, const void *x, int ldx, const void *W, cu_dtype_t wt, int M,
            int N, int K, float beta) {
    CU_REQUIRE(h && y && x && W);
    CU_REQUIRE(M > 0 && N > 0 && K > 0 && ldx >= K);
    CU_REQUIRE(wt == CU_BF16 || yt == CU_F32); /* f32 inputs only produce f32 */
    CU_REQUIRE(beta == 0.0f || yt == CU_F32);  /* residual accumulation in f32 */
    CU_REQUIRE(((uintptr_t)y | (uintptr_t)x | (uintptr_t)W) % 16 == 0);
    float alpha = 1.0f;
    /* column-major: yᵀ[N][M] = op(W)[N][K] · xᵀ[K][M] */
    CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &alpha, W, cuda_type(wt), K, x, cuda_type(wt), ldx,
                              &beta, y, cuda_type(yt), N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return 0;
}
