/* noise.c — the forward process: t/p draws, Bernoulli token masks, the crop, and the
 * stratified exact-l masks of the likelihood estimator (see noise.h for the recipes). */
#include <math.h>
#include <string.h>
#include "noise.h"
#include "kernels.h"

/* Reproducibility across machines: p = (1 − eps)·t + eps and k + i·L/b must round the same
 * everywhere, so no fused multiply-add even when built with -march=native / FMA targets. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

void noise_cfg_default(noise_cfg_t *c) {
    memset(c, 0, sizeof *c);
    c->seed = 0;
    c->eps = 1e-3;
    c->crop_frac = 0.01;
    c->mask_id = 126336;
}

double noise_draw_t(const noise_cfg_t *c, uint64_t unit, double *p) {
    mrng_t r;
    mrng_init(&r, c->seed, c->stream, unit, RNG_T);
    double t = mrng_uniform_open0(&r);
    if (p) *p = (1.0 - c->eps) * t + c->eps;
    return t;
}

uint64_t noise_threshold(double p) {
    if (!(p > 0)) return 0;
    if (p >= 1) return 1ULL << 32;
    return (uint64_t)llround(p * 4294967296.0);
}

/* Scalar tail/reference: tokens [i, n) with thresholds thr, continuing the stream r. */
static size_t bernoulli_scalar(const int32_t *x0, int32_t *xt, size_t i, size_t n, uint64_t thr, int32_t mask_id,
                               mrng_t *r) {
    size_t count = 0;
    /* Two tokens per 64-bit draw; the selects compile to conditional moves. */
    for (; i + 2 <= n; i += 2) {
        uint64_t u = mrng_u64(r);
        int m0 = (u & 0xffffffffu) < thr, m1 = (u >> 32) < thr;
        xt[i] = m0 ? mask_id : x0[i];
        xt[i + 1] = m1 ? mask_id : x0[i + 1];
        count += (size_t)(m0 + m1);
    }
    if (i < n) {
        int m0 = (mrng_u64(r) & 0xffffffffu) < thr;
        xt[i] = m0 ? mask_id : x0[i];
        count += (size_t)m0;
    }
    return count;
}

/* x0 and xt must not overlap (the SIMD path reads ahead of where it writes). */
#define ASSERT_APART(x0, xt, n) \
    KERN_ASSERT((uintptr_t)((xt) + (n)) <= (uintptr_t)(x0) || (uintptr_t)((x0) + (n)) <= (uintptr_t)(xt))

size_t noise_bernoulli_ref(const int32_t *x0, int32_t *xt, size_t n, size_t from, double p, int32_t mask_id,
                           mrng_t *r) {
    KERN_ASSERT(n == 0 || (x0 && xt && r));
    ASSERT_APART(x0, xt, n);
    if (from > n) from = n;
    if (from) memcpy(xt, x0, from * sizeof *xt);
    return bernoulli_scalar(x0, xt, from, n, noise_threshold(p), mask_id, r);
}

size_t noise_bernoulli(const int32_t *x0, int32_t *xt, size_t n, size_t from, double p, int32_t mask_id, mrng_t *r) {
    KERN_ASSERT(n == 0 || (x0 && xt && r));
    ASSERT_APART(x0, xt, n);
    bool simd = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    if (from > n) from = n;
    if (from) memcpy(xt, x0, from * sizeof *xt);
    uint64_t thr = noise_threshold(p);
    size_t count = 0, blocks = simd ? (n - from) / 16 : 0;
    if (blocks) count = noise_bernoulli_avx512(x0, xt, from, blocks, thr, mask_id, r);
    return count + bernoulli_scalar(x0, xt, from + 16 * blocks, n, thr, mask_id, r);
}

size_t noise_crop(const noise_cfg_t *c, uint64_t unit, size_t n, bool *cropped) {
    mrng_t r;
    mrng_init(&r, c->seed, c->stream, unit, RNG_CROP);
    double u = mrng_uniform(&r);
    size_t len = 1 + (size_t)mrng_below(&r, n ? n : 1); /* always drawn: fixed stream use */
    *cropped = n > 0 && u < c->crop_frac;
    return *cropped ? len : n;
}

size_t noise_pretrain(const noise_cfg_t *c, uint64_t unit, const int32_t *seq, size_t n, int32_t *xt, double *t,
                      double *p, bool *cropped, size_t *n_masked) {
    size_t len = noise_crop(c, unit, n, cropped);
    *t = noise_draw_t(c, unit, p);
    mrng_t r;
    mrng_init(&r, c->seed, c->stream, unit, RNG_TOKENS);
    *n_masked = noise_bernoulli(seq, xt, len, 0, *p, c->mask_id, &r);
    return len;
}

size_t noise_sft(const noise_cfg_t *c, uint64_t unit, const int32_t *x0, size_t n, size_t prompt_len, int32_t *xt,
                 double *t, double *p) {
    *t = noise_draw_t(c, unit, p);
    mrng_t r;
    mrng_init(&r, c->seed, c->stream, unit, RNG_TOKENS);
    return noise_bernoulli(x0, xt, n, prompt_len, *p, c->mask_id, &r);
}

void ll_counts(size_t L, size_t b, uint64_t k, size_t *l) {
    KERN_ASSERT(L >= 1 && k >= 1 && k <= L && b >= 1 && b < (1u << 24));
    /* get_log_likelihood.py: round(linspace(float(k), k + (b-1)*(L/b), steps=b)), in torch's
     * default float32. The end point: (b-1)*(L/b) is a Python double, rounded to float32 when
     * added to the int64 tensor k, then summed in float32. linspace (ATen RangeFactories, CPU
     * and CUDA alike): step = (end - start) / (b - 1) in float32; the first b/2 values are
     * start + step*i, the rest end - step*(b-1-i), each one fused multiply-add (nvcc fuses by
     * default; GCC fuses the -mfma AVX2/AVX512 CPU kernels; torch on a CPU without FMA, its
 * DEFAULT kernel, rounds twice and differs in ~1% of such batches). torch.round is half to even
     * (nearbyintf in the default rounding mode). A power-of-two b makes every step exact, so
     * these are then the exact values k + i*L/b. */
    float start = (float)k;
    float end = start + (float)((double)(b - 1) * ((double)L / (double)b));
    float step = b > 1 ? (end - start) / (float)(b - 1) : 0.0f;
    size_t half = b / 2;
    for (size_t i = 0; i < b; i++) {
        float v = i < half ? fmaf(step, (float)i, start) : fmaf(-step, (float)(b - 1 - i), end);
        long long x = (long long)nearbyintf(v);
        l[i] = (size_t)(((x - 1) % (long long)L + (long long)L) % (long long)L) + 1;
    }
}

uint64_t ll_offset(const noise_cfg_t *c, uint64_t group, uint64_t batch, size_t L) {
    KERN_ASSERT(L >= 1);
    mrng_t r;
    mrng_init_sub(&r, c->seed, c->stream, group, batch, RNG_LL_OFFSET);
    return 1 + mrng_below(&r, L);
}

void ll_sample_rng(const noise_cfg_t *c, uint64_t group, uint64_t mc, mrng_t *r) {
    mrng_init_sub(r, c->seed, c->stream, group, mc, RNG_LL_PERM);
}

void ll_mask_exact(const int32_t *x0, int32_t *xt, size_t prompt_len, size_t L, size_t l, int32_t mask_id, mrng_t *r,
                   uint32_t *scratch) {
    KERN_ASSERT(L <= UINT32_MAX && (L == 0 || scratch));
    memcpy(xt, x0, (prompt_len + L) * sizeof *xt);
    if (l > L) l = L;
    for (size_t i = 0; i < L; i++) scratch[i] = (uint32_t)i;
    /* After step j, scratch[0..j] is a uniform random l-subset in random order. */
    for (size_t j = 0; j < l; j++) {
        size_t k = j + (size_t)mrng_below(r, L - j);
        uint32_t tmp = scratch[j];
        scratch[j] = scratch[k];
        scratch[k] = tmp;
        xt[prompt_len + scratch[j]] = mask_id;
    }
}
