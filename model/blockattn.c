/* blockattn.c — attention for block-diffusion models (SDAR; family.h): Lq queries at
 * absolute positions q0.. over Lk keys at positions 0..Lk-1, a query at position p seeing
 * the keys of its own block and of every earlier one (key j visible iff j / blk <= p / blk).
 * With q0 = 0 and Lq = Lk it is the full block-causal pass; with the current block's rows
 * as queries over cached keys + the block's own it is one step of the exact block cache
 * (then every key is visible). Plain loops in float with double sums: the reference the
 * tests compare against numpy; GQA as everywhere (query head h reads KV head h / (Hq/Hkv)).
 */
#include <math.h>
#include "model/family.h"

void block_causal_attention(float *out, const float *q, const float *k, const float *v, int Lq, int q0, int Lk, int Hq,
                            int Hkv, int hd, int blk, float *scores) {
    int g = Hq / Hkv;
    size_t qs = (size_t)Hq * hd, ks = (size_t)Hkv * hd;
    double scale = 1.0 / sqrt((double)hd);
    for (int i = 0; i < Lq; i++) {
        int p = q0 + i, kend = (p / blk + 1) * blk;
        if (kend > Lk) kend = Lk;
        for (int h = 0; h < Hq; h++) {
            const float *qr = q + i * qs + (size_t)h * hd;
            int kh = h / g;
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < kend; j++) {
                const float *kr = k + j * ks + (size_t)kh * hd;
                double s = 0;
                for (int d = 0; d < hd; d++) s += (double)qr[d] * kr[d];
                scores[j] = (float)(s * scale);
                if (scores[j] > mx) mx = scores[j];
            }
            float *o = out + i * qs + (size_t)h * hd;
            for (int d = 0; d < hd; d++) o[d] = 0;
            for (int j = 0; j < kend; j++) {
                double w = exp((double)scores[j] - mx);
                sum += w;
                scores[j] = (float)w;
            }
            for (int j = 0; j < kend; j++) {
                const float *vr = v + j * ks + (size_t)kh * hd;
                float w = (float)(scores[j] / sum);
                for (int d = 0; d < hd; d++) o[d] += w * vr[d];
            }
        }
    }
}
