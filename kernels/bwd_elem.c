/* bwd_elem.c — elementwise and gather ops of the training step: SwiGLU and the embedding. */
#include <math.h>
#include <string.h>
#include "bwd_ops.h"
#include "kernels.h"

void tr_swiglu_fwd(const float *g, const float *u, float *a, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* a = g σ(g) u:  du = da g σ(g);  dg = da u σ(g)(1 + g(1 − σ(g))). */
void tr_swiglu_bwd(const float *da, const float *g, const float *u, float *dg, float *du, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-g[i]));
        du[i] += da[i] * g[i] * s;
        dg[i] += da[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
    }
}

void tr_embed_fwd(const float *E, const int32_t *ids, float *h, int N, int D) {
    KERN_ASSERT(N >= 0 && D > 0);
    for (int n = 0; n < N; n++) KERN_ASSERT(ids[n] >= 0);
    for (int n = 0; n < N; n++) memcpy(h + (size_t)n * D, E + (size_t)ids[n] * D, sizeof(float) * D);
}

void tr_embed_bwd(const float *dh, const int32_t *ids, float *dE, int N, int D) {
    KERN_ASSERT(N >= 0 && D > 0);
    for (int n = 0; n < N; n++) KERN_ASSERT(ids[n] >= 0);
    for (int n = 0; n < N; n++) {
        float *e = dE + (size_t)ids[n] * D;
        const float *g = dh + (size_t)n * D;
        for (int i = 0; i < D; i++) e[i] += g[i];
    }
}
