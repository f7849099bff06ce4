/* bwd_norm.c — RMSNorm forward (saving 1/rms per row) and backward, fp32 with double sums. */
#include <math.h>
#include "bwd_ops.h"
#include "kernels.h"

void tr_rmsnorm_fwd(const float *x, const float *w, float *y, float *rinv, int N, int D, float eps) {
    KERN_ASSERT(N >= 0 && D > 0 && eps >= 0 && rinv);
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * D;
        float *yr = y + (size_t)n * D;
        double ss = 0;
        for (int i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
        float r = (float)(1.0 / sqrt(ss / D + eps));
        rinv[n] = r;
        for (int i = 0; i < D; i++) yr[i] = xr[i] * r * w[i];
    }
}

/* y_i = x_i r w_i, r = (mean x² + eps)^(-1/2):
 * dx_i = r w_i dy_i − x_i r³/D Σ_j dy_j w_j x_j ;  dw_i = Σ_n dy_i x_i r. */
void tr_rmsnorm_bwd(const float *dy, const float *x, const float *w, const float *rinv, float *dx, float *dw, int N,
                    int D) {
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * D, *dyr = dy + (size_t)n * D;
        float r = rinv[n];
        double dot = 0;
        for (int i = 0; i < D; i++) dot += (double)dyr[i] * w[i] * xr[i];
        float c = (float)(dot * r * r * r / D);
        if (dx) {
            float *dxr = dx + (size_t)n * D;
            for (int i = 0; i < D; i++) dxr[i] += r * w[i] * dyr[i] - xr[i] * c;
        }
        if (dw)
            for (int i = 0; i < D; i++) dw[i] += dyr[i] * xr[i] * r;
    }
}
