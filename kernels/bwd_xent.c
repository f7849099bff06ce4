/* bwd_xent.c — weighted softmax cross-entropy with its gradient, fused in place.
 * The weights carry the diffusion objective's 1/p and normalisations (train/loss.c).
 * tr_xent_fwd_bwd is the reference (double exp and sums); tr_xent_fwd_bwd_vec the same with
 * kernels' vector max/exp (vmath.c, fp32 sums), for the training step's bf16 mode. */
#include <math.h>
#include "bwd_ops.h"
#include "kernels.h"

double tr_xent_fwd_bwd(float *logits, const int32_t *y, const float *w, int N, int V, float *ce_out) {
    KERN_ASSERT(N >= 0 && V > 0);
    for (int n = 0; n < N; n++) KERN_ASSERT(w[n] == 0.0f || (y[n] >= 0 && y[n] < V));
    double total = 0;
    for (int n = 0; n < N; n++) {
        float *z = logits + (size_t)n * V;
        if (w[n] == 0.0f) {
            for (int i = 0; i < V; i++) z[i] = 0.0f;
            if (ce_out) ce_out[n] = 0.0f;
            continue;
        }
        float mx = z[0];
        for (int i = 1; i < V; i++) mx = z[i] > mx ? z[i] : mx;
        double s = 0;
        for (int i = 0; i < V; i++) s += exp((double)(z[i] - mx));
        double lse = mx + log(s), ce = lse - z[y[n]];
        total += w[n] * ce;
        if (ce_out) ce_out[n] = (float)ce;
        for (int i = 0; i < V; i++) z[i] = w[n] * (float)exp((double)z[i] - lse);
        z[y[n]] -= w[n];
    }
    return total;
}

float tr_xent_row_exp(float *z, int V, int y, float w, double *ce) {
    float mx = vmax_f32(z, V), zy = z[y];
    float s = vexp_sub_sum(z, V, mx); /* z[i] = exp(z[i] - mx) */
    *ce = mx + log((double)s) - zy;
    return w / s;
}

double tr_xent_fwd_bwd_vec(float *logits, const int32_t *y, const float *w, int N, int V, float *ce_out) {
    KERN_ASSERT(N >= 0 && V > 0);
    for (int n = 0; n < N; n++) KERN_ASSERT(w[n] == 0.0f || (y[n] >= 0 && y[n] < V));
    double total = 0;
    for (int n = 0; n < N; n++) {
        float *z = logits + (size_t)n * V;
        if (w[n] == 0.0f) {
            for (int i = 0; i < V; i++) z[i] = 0.0f;
            if (ce_out) ce_out[n] = 0.0f;
            continue;
        }
        double ce;
        float k = tr_xent_row_exp(z, V, y[n], w[n], &ce);
        total += w[n] * ce;
        if (ce_out) ce_out[n] = (float)ce;
        for (int i = 0; i < V; i++) z[i] *= k;
        z[y[n]] -= w[n];
    }
    return total;
}
