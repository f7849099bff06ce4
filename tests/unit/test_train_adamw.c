/* test_train_adamw.c — AdamW, the warm-up/cosine schedule and global-norm clipping
 * (train/adamw.c) against the formulas written out here in double precision (Loshchilov &
 * Hutter's decoupled weight decay, PyTorch AdamW semantics), over several steps. */
#include <math.h>
#include <string.h>
#include "train/adamw.h"
#include "testlib.h"

enum { N = 7 };

int main(void) {
    adamw_cfg_t c;
    adamw_cfg_default(&c);
    c.lr = 0.01;
    c.min_lr = 0.001;
    c.warmup = 3;
    c.total = 13;
    c.weight_decay = 0.2;
    c.clip = 0.5;
    /* schedule */
    CHECK_NEAR(adamw_lr(&c, 0), 0.01 / 3, 1e-12, "warm-up step 0");
    CHECK_NEAR(adamw_lr(&c, 2), 0.01, 1e-12, "warm-up end");
    CHECK_NEAR(adamw_lr(&c, 8), 0.001 + 0.5 * 0.009 * (1 + cos(M_PI * 5 / 10)), 1e-12, "cosine middle");
    CHECK_NEAR(adamw_lr(&c, 13), 0.001, 1e-12, "cosine end");
    CHECK_NEAR(adamw_lr(&c, 100), 0.001, 1e-12, "after the end");
    /* updates */
    float p[N], g[N], m[N] = {0}, v[N] = {0};
    double P[N], M[N] = {0}, V[N] = {0};
    uint8_t decay[N] = {1, 1, 0, 1, 0, 1, 1};
    for (int i = 0; i < N; i++) P[i] = p[i] = 0.3f * (i - 3);
    double worst = 0;
    for (int s = 0; s < 6; s++) {
        double G[N], sq = 0;
        for (int i = 0; i < N; i++) {
            g[i] = (float)(0.2 * sin(1.3 * i + s) * (s % 2 ? 3 : 0.1));
            G[i] = g[i];
            sq += G[i] * G[i];
        }
        double gn = grad_norm(g, N);
        CHECK_NEAR(gn, sqrt(sq), 1e-6, "grad norm");
        double lr = adamw_update(&c, s, p, g, m, v, decay, N, gn);
        double sc = sqrt(sq) > c.clip ? c.clip / sqrt(sq) : 1, want_lr = adamw_lr(&c, s);
        CHECK_NEAR(lr, want_lr, 1e-12, "lr used");
        for (int i = 0; i < N; i++) {
            double gi = G[i] * sc;
            M[i] = 0.9 * M[i] + 0.1 * gi;
            V[i] = 0.95 * V[i] + 0.05 * gi * gi;
            double mh = M[i] / (1 - pow(0.9, s + 1)), vh = V[i] / (1 - pow(0.95, s + 1));
            if (decay[i]) P[i] -= want_lr * 0.2 * P[i];
            P[i] -= want_lr * mh / (sqrt(vh) + 1e-8);
            worst = fmax(worst, fabs(P[i] - p[i]));
        }
    }
    CHECK(worst < 1e-6, "6 AdamW steps vs double reference: worst |dp| %g", worst);
    /* adamw_update (AVX-512 where the CPU has it) equals the plain loop adamw_update_ref bit for
     * bit: same fp32 operations in the same order, none contracted into an FMA. 4099 = 256
     * vectors + a tail of 3; gradients spanning 1e-12..1e3 and zeros; decay mask and NULL; with
     * and without clipping. */
    enum { VN = 4099 };
    static float vp[2][VN], vg[VN], vm[2][VN], vv[2][VN];
    static uint8_t vd[VN];
    uint32_t r = 12345;
    for (int i = 0; i < VN; i++) {
        r = r * 1103515245u + 12345u;
        vp[0][i] = vp[1][i] = ((r >> 8) & 0xffff) / 32768.0f - 1.0f;
        vd[i] = (r >> 5) % 3 != 0;
    }
    int same = 1;
    for (int s = 0; s < 8; s++) {
        for (int i = 0; i < VN; i++) {
            r = r * 1103515245u + 12345u;
            vg[i] = (i % 11 == 0) ? 0.0f : (float)(((r >> 8) & 0xffff) / 32768.0 - 1.0) * powf(10.0f, (float)((r >> 3) % 16) - 12);
        }
        c.clip = s % 2 ? 0.5 : 0;
        double gn = grad_norm(vg, VN);
        const uint8_t *dm = s % 3 ? vd : NULL;
        double l0 = adamw_update(&c, s, vp[0], vg, vm[0], vv[0], dm, VN, gn);
        double l1 = adamw_update_ref(&c, s, vp[1], vg, vm[1], vv[1], dm, VN, gn);
        same &= l0 == l1 && !memcmp(vp[0], vp[1], sizeof vp[0]) && !memcmp(vm[0], vm[1], sizeof vm[0]) &&
                !memcmp(vv[0], vv[1], sizeof vv[0]);
    }
    CHECK(same, "adamw_update == adamw_update_ref bit for bit (8 steps, %d parameters)", VN);
    return TEST_SUMMARY();
}
