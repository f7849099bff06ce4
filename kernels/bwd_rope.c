/* bwd_rope.c — half-split (NeoX) rotary embedding as LLaDA uses it, forward and backward.
 * The rotation is orthogonal, so the backward is the same rotation with the angle negated. */
#include <math.h>
#include "bwd_ops.h"
#include "kernels.h"

void tr_rope_table(float *cs, int T, int hd, double theta) {
    KERN_ASSERT(T >= 0 && hd > 0 && hd % 2 == 0 && theta > 0);
    int h2 = hd / 2;
    for (int p = 0; p < T; p++)
        for (int i = 0; i < h2; i++) {
            double inv = pow(theta, -2.0 * i / hd), a = p * inv;
            cs[((size_t)p * h2 + i) * 2] = (float)cos(a);
            cs[((size_t)p * h2 + i) * 2 + 1] = (float)sin(a);
        }
}

static void rope_rotate(float *x, const float *cs, int N, int T, int nh, int hd, float sgn) {
    KERN_ASSERT(N >= 0 && T > 0 && nh > 0 && hd > 0 && hd % 2 == 0);
    int h2 = hd / 2;
    for (int n = 0; n < N; n++) {
        const float *c = cs + (size_t)(n % T) * h2 * 2;
        for (int h = 0; h < nh; h++) {
            float *v = x + ((size_t)n * nh + h) * hd;
            for (int i = 0; i < h2; i++) {
                float co = c[2 * i], si = sgn * c[2 * i + 1], a = v[i], b = v[i + h2];
                v[i] = a * co - b * si;
                v[i + h2] = b * co + a * si;
            }
        }
    }
}

void tr_rope_fwd(float *x, const float *cs, int N, int T, int nh, int hd) { rope_rotate(x, cs, N, T, nh, hd, 1.0f); }

void tr_rope_bwd(float *dx, const float *cs, int N, int T, int nh, int hd) { rope_rotate(dx, cs, N, T, nh, hd, -1.0f); }
