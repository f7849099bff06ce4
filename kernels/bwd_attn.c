/* bwd_attn.c — scaled dot-product attention for one (sequence, head), forward keeping the
 * probabilities and backward. Bidirectional for LLaDA, causal for the AR baseline.
 * Callers run different heads on different threads (train/step.c); nothing here is shared. */
#include <math.h>
#include "bwd_ops.h"

static float dot(const float *a, const float *b, int n)
{
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    float t = 0;
    for (; i < n; i++) t += a[i] * b[i];
    return t + ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static void axpy(float *y, float a, const float *x, int n)
{
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

void tr_attn_fwd(const float *q, const float *k, const float *v, float *o, float *P,
                 int T, int hd, int ldq, int ldk, float scale, int causal)
{
    for (int i = 0; i < T; i++) {
        float *p = P + (size_t)i * T, mx = -INFINITY;
        int nk = causal ? i + 1 : T;
        for (int j = 0; j < nk; j++) {
            p[j] = scale * dot(q + (size_t)i * ldq, k + (size_t)j * ldk, hd);
            mx = p[j] > mx ? p[j] : mx;
        }
        float s = 0;
        for (int j = 0; j < nk; j++) s += (p[j] = expf(p[j] - mx));
        float inv = 1.0f / s, *oi = o + (size_t)i * ldq;
        for (int j = nk; j < T; j++) p[j] = 0.0f;
        for (int d = 0; d < hd; d++) oi[d] = 0.0f;
        for (int j = 0; j < nk; j++) {
            p[j] *= inv;
            axpy(oi, p[j], v + (size_t)j * ldk, hd);
        }
    }
}

void tr_attn_bwd(const float *dout, const float *q, const float *k, const float *v,
                 const float *P, float *dq, float *dk, float *dv,
                 int T, int hd, int ldq, int ldk, float scale, float *dp)
{
    for (int i = 0; i < T; i++) {
        const float *p = P + (size_t)i * T, *doi = dout + (size_t)i * ldq;
        float rs = 0;
        for (int j = 0; j < T; j++) {
            if (p[j] == 0.0f) { dp[j] = 0.0f; continue; }
            dp[j] = dot(doi, v + (size_t)j * ldk, hd);
            rs += p[j] * dp[j];
            axpy(dv + (size_t)j * ldk, p[j], doi, hd);
        }
        float *dqi = dq + (size_t)i * ldq;
        const float *qi = q + (size_t)i * ldq;
        for (int j = 0; j < T; j++) {
            if (p[j] == 0.0f) continue;
            float ds = scale * p[j] * (dp[j] - rs);
            axpy(dqi, ds, k + (size_t)j * ldk, hd);
            axpy(dk + (size_t)j * ldk, ds, qi, hd);
        }
    }
}
