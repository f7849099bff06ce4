/* bwd_attn.c — scaled dot-product attention for one (sequence, head), forward keeping the
 * probabilities and backward. Bidirectional for LLaDA, causal for the AR baseline.
 * Written as five BLAS products per head (scores, P·V; dP, dV, dQ, dK) so it runs at GEMM
 * speed; the scalar softmax parts are O(T²). Heads are processed one after another by
 * train/step.c, each product threaded inside the BLAS. tr_attn_fwd_vec: the softmax with
 * kernels' vector exp (vmath.c), for the training step's bf16 mode. */
#include <cblas.h>
#include <math.h>
#include "bwd_ops.h"
#include "kernels.h"

static void attn_fwd(const float *q, const float *k, const float *v, float *o, float *P, int T, int hd, int ldq,
                     int ldk, float scale, int causal, int vec) {
    KERN_ASSERT(T >= 0 && hd > 0 && ldq >= hd && ldk >= hd && P);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, q, ldq, k, ldk, 0.0f, P, T);
    for (int i = 0; vec && i < T; i++) { /* kernels' vector max / exp (vmath.c) */
        float *p = P + (size_t)i * T;
        int nk = causal ? i + 1 : T;
        float inv = 1.0f / vexp_sub_sum(p, nk, vmax_f32(p, nk));
        for (int j = 0; j < nk; j++) p[j] *= inv;
        for (int j = nk; j < T; j++) p[j] = 0.0f;
    }
    for (int i = 0; !vec && i < T; i++) {
        float *p = P + (size_t)i * T, mx = -INFINITY;
        int nk = causal ? i + 1 : T;
        for (int j = 0; j < nk; j++) mx = p[j] > mx ? p[j] : mx;
        float s = 0;
        for (int j = 0; j < nk; j++) s += (p[j] = expf(p[j] - mx));
        float inv = 1.0f / s;
        for (int j = 0; j < nk; j++) p[j] *= inv;
        for (int j = nk; j < T; j++) p[j] = 0.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, P, T, v, ldk, 0.0f, o, ldq);
}

void tr_attn_fwd(const float *q, const float *k, const float *v, float *o, float *P, int T, int hd, int ldq, int ldk,
                 float scale, int causal) {
    attn_fwd(q, k, v, o, P, T, hd, ldq, ldk, scale, causal, 0);
}

void tr_attn_fwd_vec(const float *q, const float *k, const float *v, float *o, float *P, int T, int hd, int ldq,
                     int ldk, float scale, int causal) {
    attn_fwd(q, k, v, o, P, T, hd, ldq, ldk, scale, causal, 1);
}

/* dP = dO·Vᵀ ; dV += Pᵀ·dO ; dS = scale·P⊙(dP − rowsum(P⊙dP)) ; dQ += dS·K ; dK += dSᵀ·Q.
 * scratch: float[T*T]. */
void tr_attn_bwd(const float *dout, const float *q, const float *k, const float *v, const float *P, float *dq,
                 float *dk, float *dv, int T, int hd, int ldq, int ldk, float scale, float *dS) {
    KERN_ASSERT(T >= 0 && hd > 0 && ldq >= hd && ldk >= hd && P && dS);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dout, ldq, v, ldk, 0.0f, dS, T);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, P, T, dout, ldq, 1.0f, dv, ldk);
    for (int i = 0; i < T; i++) {
        const float *p = P + (size_t)i * T;
        float *d = dS + (size_t)i * T, rs = 0;
        for (int j = 0; j < T; j++) rs += p[j] * d[j];
        for (int j = 0; j < T; j++) d[j] = scale * p[j] * (d[j] - rs);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, dS, T, k, ldk, 1.0f, dq, ldq);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, dS, T, q, ldq, 1.0f, dk, ldk);
}
