/* attention.c — bidirectional (non-causal) multi-head attention with a key padding mask
 * and grouped-query heads, as LLaDA computes it: softmax(q·kᵀ/sqrt(hd) + bias)·v where
 * bias is a huge negative number on padding keys. The fast path does the two products per
 * head with sgemm; attention_ref is the plain double-precision loop the tests compare to. */
#include <math.h>
#include <float.h>
#include "kernels.h"

/* Scores of one head -> probabilities in place (row-wise, keys masked by `keep`). */
static void masked_softmax(float *s, int L, const uint8_t *keep) {
    for (int i = 0; i < L; i++) {
        float *r = s + (size_t)i * L;
        if (keep) for (int j = 0; j < L; j++) if (!keep[j]) r[j] = -INFINITY;
    }
    softmax_rows(s, L, L);
}

void attention(float *out, const float *q, const float *k, const float *v, int L, int Hq,
               int Hkv, int hd, const uint8_t *keep, float *att, float *probs_out) {
    int group = Hq / Hkv, qs = Hq * hd, ks = Hkv * hd;
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < Hq; h++) {
        int kh = h / group;
        float *p = probs_out ? probs_out + (size_t)h * L * L : att;
        kgemm_nt(L, L, hd, scale, q + (size_t)h * hd, qs, k + (size_t)kh * hd, ks, 0.0f, p, L);
        masked_softmax(p, L, keep);
        kgemm_nn(L, hd, L, 1.0f, p, L, v + (size_t)kh * hd, ks, 0.0f, out + (size_t)h * hd, qs);
    }
}

void attention_ref(float *out, const float *q, const float *k, const float *v, int L, int Hq,
                   int Hkv, int hd, const uint8_t *keep) {
    int group = Hq / Hkv, qs = Hq * hd, ks = Hkv * hd;
    double scale = 1.0 / sqrt((double)hd);
    double w[L > 0 ? L : 1];
    for (int h = 0; h < Hq; h++) {
        int kh = h / group;
        for (int i = 0; i < L; i++) {
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < L; j++) {
                double s = 0;
                for (int d = 0; d < hd; d++)
                    s += (double)q[(size_t)i * qs + h * hd + d] * k[(size_t)j * ks + kh * hd + d];
                s *= scale;
                if (keep && !keep[j]) s += -FLT_MAX; /* LLaDA: finfo(float32).min bias */
                w[j] = s;
                if (s > mx) mx = s;
            }
            for (int j = 0; j < L; j++) { w[j] = exp(w[j] - mx); sum += w[j]; }
            for (int d = 0; d < hd; d++) {
                double o = 0;
                for (int j = 0; j < L; j++) o += w[j] * v[(size_t)j * ks + kh * hd + d];
                out[(size_t)i * qs + h * hd + d] = (float)(o / sum);
            }
        }
    }
}
