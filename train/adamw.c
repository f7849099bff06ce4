/* adamw.c — AdamW with warm-up/cosine schedule and global-norm clipping (see adamw.h). */
#include <math.h>
#include "adamw.h"

void adamw_cfg_default(adamw_cfg_t *c) {
    *c = (adamw_cfg_t){.lr = 1e-3,
                       .min_lr = 1e-4,
                       .warmup = 100,
                       .total = 1000,
                       .beta1 = 0.9,
                       .beta2 = 0.95,
                       .eps = 1e-8,
                       .weight_decay = 0.1,
                       .clip = 1.0};
}

double adamw_lr(const adamw_cfg_t *c, int64_t step) {
    if (step < c->warmup) return c->lr * (double)(step + 1) / (double)c->warmup;
    if (step >= c->total) return c->min_lr;
    double span = (double)(c->total - c->warmup);
    double f = span > 0 ? (double)(step - c->warmup) / span : 1.0;
    return c->min_lr + 0.5 * (c->lr - c->min_lr) * (1 + cos(M_PI * f));
}

double grad_norm(const float *g, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

double adamw_update(const adamw_cfg_t *c, int64_t step, float *p, const float *g, float *m, float *v,
                    const uint8_t *decay, size_t n, double gnorm) {
    double lr = adamw_lr(c, step);
    float scale = (c->clip > 0 && gnorm > c->clip) ? (float)(c->clip / gnorm) : 1.0f;
    float b1 = (float)c->beta1, b2 = (float)c->beta2;
    float bc1 = (float)(1 - pow(c->beta1, (double)(step + 1)));
    float bc2 = (float)(1 - pow(c->beta2, (double)(step + 1)));
    float flr = (float)lr, wd = (float)(lr * c->weight_decay), eps = (float)c->eps;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * scale;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        float upd = (m[i] / bc1) / (sqrtf(v[i] / bc2) + eps);
        if (!decay || decay[i]) p[i] -= wd * p[i];
        p[i] -= flr * upd;
    }
    return lr;
}
