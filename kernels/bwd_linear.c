/* bwd_linear.c — linear layer y = x·Wᵀ forward and backward on OpenBLAS sgemm.
 * The training step's FLOPs are almost all here, so they go to the BLAS (see bench/train.sh
 * for how close to the machine's GEMM ceiling that gets). */
#include <cblas.h>
#include "bwd_ops.h"
#include "kernels.h"

void tr_linear_fwd(const float *x, const float *W, float *y, int N, int Din, int Dout) {
    KERN_ASSERT(N >= 0 && Din > 0 && Dout > 0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, Dout, Din, 1.0f, x, Din, W, Din, 0.0f, y, Dout);
}

void tr_linear_bwd(const float *dy, const float *x, const float *W, float *dx, float *dW, int N, int Din, int Dout) {
    if (dx) /* dx[N][I] += dy[N][O] · W[O][I] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, Din, Dout, 1.0f, dy, Dout, W, Din, 1.0f, dx, Din);
    if (dW) /* dW[O][I] += dyᵀ[O][N] · x[N][I] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Dout, Din, N, 1.0f, dy, Dout, x, Din, 1.0f, dW, Din);
}
