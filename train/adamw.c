/* adamw.c — AdamW with warm-up/cosine schedule and global-norm clipping (see adamw.h). The
 * update runs 16 parameters at a time with AVX-512 where the CPU has it (run-time dispatch),
 * bit for bit the plain loop's result (adamw_update_ref). */
#include <math.h>
#include <immintrin.h>
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

/* The update's arithmetic, element by element: the reference, the scalar path and the vector
 * body's tail. Every operation is a single IEEE fp32 operation in this order (no FMA: the file
 * is built for x86-64-v2), so the vector body below, which performs the same operations with
 * explicit rounding-mode intrinsics (never contracted into FMAs), gives the same bits. */
typedef struct {
    float scale, b1, b2, c1, c2, bc1, bc2, flr, wd, eps;
} adamw_k_t;

static inline void adamw_one(const adamw_k_t *k, float *p, const float *g, float *m, float *v, const uint8_t *decay,
                             size_t i) {
    float gi = g[i] * k->scale;
    m[i] = k->b1 * m[i] + k->c1 * gi;
    v[i] = k->b2 * v[i] + k->c2 * gi * gi;
    float upd = (m[i] / k->bc1) / (sqrtf(v[i] / k->bc2) + k->eps);
    if (!decay || decay[i]) p[i] -= k->wd * p[i];
    p[i] -= k->flr * upd;
}

#define RN (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
/* The first n / 16 * 16 elements (the caller does the tail: here, scalar code could be contracted
 * into FMAs, this function's target having them). */
__attribute__((target("avx512f"))) static void adamw_512(const adamw_k_t *k, float *p, const float *g, float *m,
                                                         float *v, const uint8_t *decay, size_t n) {
    const __m512 scale = _mm512_set1_ps(k->scale), b1 = _mm512_set1_ps(k->b1), b2 = _mm512_set1_ps(k->b2),
                 c1 = _mm512_set1_ps(k->c1), c2 = _mm512_set1_ps(k->c2), bc1 = _mm512_set1_ps(k->bc1),
                 bc2 = _mm512_set1_ps(k->bc2), flr = _mm512_set1_ps(k->flr), wd = _mm512_set1_ps(k->wd),
                 eps = _mm512_set1_ps(k->eps);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 gi = _mm512_mul_round_ps(_mm512_loadu_ps(g + i), scale, RN);
        __m512 mv = _mm512_add_round_ps(_mm512_mul_round_ps(b1, _mm512_loadu_ps(m + i), RN),
                                        _mm512_mul_round_ps(c1, gi, RN), RN);
        __m512 vv = _mm512_add_round_ps(_mm512_mul_round_ps(b2, _mm512_loadu_ps(v + i), RN),
                                        _mm512_mul_round_ps(_mm512_mul_round_ps(c2, gi, RN), gi, RN), RN);
        __m512 den = _mm512_add_round_ps(_mm512_sqrt_round_ps(_mm512_div_round_ps(vv, bc2, RN), RN), eps, RN);
        __m512 upd = _mm512_div_round_ps(_mm512_div_round_ps(mv, bc1, RN), den, RN);
        __m512 pv = _mm512_loadu_ps(p + i);
        __mmask16 dk = 0xffff;
        if (decay) {
            __m512i d = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(decay + i)));
            dk = _mm512_test_epi32_mask(d, d);
        }
        pv = _mm512_mask_sub_round_ps(pv, dk, pv, _mm512_mul_round_ps(wd, pv, RN), RN);
        pv = _mm512_sub_round_ps(pv, _mm512_mul_round_ps(flr, upd, RN), RN);
        _mm512_storeu_ps(m + i, mv);
        _mm512_storeu_ps(v + i, vv);
        _mm512_storeu_ps(p + i, pv);
    }
}
#undef RN

static double adamw_setup(const adamw_cfg_t *c, int64_t step, double gnorm, adamw_k_t *k) {
    double lr = adamw_lr(c, step);
    float b1 = (float)c->beta1, b2 = (float)c->beta2;
    *k = (adamw_k_t){.scale = (c->clip > 0 && gnorm > c->clip) ? (float)(c->clip / gnorm) : 1.0f,
                     .b1 = b1,
                     .b2 = b2,
                     .c1 = 1 - b1,
                     .c2 = 1 - b2,
                     .bc1 = (float)(1 - pow(c->beta1, (double)(step + 1))),
                     .bc2 = (float)(1 - pow(c->beta2, (double)(step + 1))),
                     .flr = (float)lr,
                     .wd = (float)(lr * c->weight_decay),
                     .eps = (float)c->eps};
    return lr;
}

double adamw_update_ref(const adamw_cfg_t *c, int64_t step, float *p, const float *g, float *m, float *v,
                        const uint8_t *decay, size_t n, double gnorm) {
    adamw_k_t k;
    double lr = adamw_setup(c, step, gnorm, &k);
    for (size_t i = 0; i < n; i++) adamw_one(&k, p, g, m, v, decay, i);
    return lr;
}

double adamw_update(const adamw_cfg_t *c, int64_t step, float *p, const float *g, float *m, float *v,
                    const uint8_t *decay, size_t n, double gnorm) {
    static int avx512 = -1;
    if (avx512 < 0) avx512 = __builtin_cpu_supports("avx512f") ? 1 : 0;
    if (!avx512) return adamw_update_ref(c, step, p, g, m, v, decay, n, gnorm);
    adamw_k_t k;
    double lr = adamw_setup(c, step, gnorm, &k);
    adamw_512(&k, p, g, m, v, decay, n);
    for (size_t i = n / 16 * 16; i < n; i++) adamw_one(&k, p, g, m, v, decay, i);
    return lr;
}
