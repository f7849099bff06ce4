/* noise.h — the forward (masking) process of LLaDA: pre-training, SFT and likelihood draws.
 *
 * Pure functions over token arrays, no I/O and no records, so that `train` can mask with the
 * same code and tests can check the statistics directly. Every draw for an output unit comes
 * from generators keyed by (seed, stream, unit, purpose) (rng.h); see docs/protocol.md (mask)
 * and ../shared/reference/llada.md §1.2, §1.6 for the recipes mirrored here:
 *   pre-training / SFT: t ~ U(0,1], p = (1 − eps)·t + eps, every (answer) token masked
 *     independently with probability p; 1% of pre-training sequences cropped to U{1..length};
 *   likelihood (get_log_likelihood.py): per batch of b samples, k ~ U{1..L},
 *     l_i = round(k + i·L/b) wrapped into [1, L], exactly l_i answer tokens masked, p = l_i / L.
 */
#ifndef LLADA_NOISE_H
#define LLADA_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "keyrng.h"

typedef struct {
    uint64_t seed;    /* --seed */
    uint64_t stream;  /* --stream: an extra key part for independently prepared inputs */
    double eps;       /* minimum mask probability, default 1e-3 */
    double crop_frac; /* fraction of pre-training sequences cropped, default 0.01 */
    int32_t mask_id;  /* the model's mask token */
} noise_cfg_t;

void noise_cfg_default(noise_cfg_t *c);

/* Draw t ~ U(0,1] for unit `unit`; returns t and sets *p = (1 − eps)·t + eps. */
double noise_draw_t(const noise_cfg_t *c, uint64_t unit, double *p);

/* 32-bit Bernoulli threshold: a uniform u32 u is "masked" iff u < threshold. The realised
 * probability is round(p·2^32)/2^32 (error ≤ 2^-33); p ≥ 1 gives 2^32 (always). */
uint64_t noise_threshold(double p);

/* xt[i] = x0[i] for i < from; for from ≤ i < n, xt[i] = mask_id with probability p (drawn
 * from `r`), else x0[i]. x0 and xt may not overlap. Returns the number of masked tokens. */
size_t noise_bernoulli(const int32_t *x0, int32_t *xt, size_t n, size_t from, double p, int32_t mask_id, mrng_t *r);

/* The scalar reference of noise_bernoulli (same draws, same output); noise_bernoulli uses
 * the AVX-512 kernel for whole blocks of 16 tokens when the CPU has AVX-512F/DQ. */
size_t noise_bernoulli_ref(const int32_t *x0, int32_t *xt, size_t n, size_t from, double p, int32_t mask_id, mrng_t *r);
/* AVX-512 kernel (noise_avx512.c): tokens [from, from + 16·blocks); advances r; CPU must
 * support AVX-512F and AVX-512DQ. */
size_t noise_bernoulli_avx512(const int32_t *x0, int32_t *xt, size_t from, size_t blocks, uint64_t thr, int32_t mask_id,
                              mrng_t *r);

/* The 1% crop: with probability crop_frac, returns a length uniform in [1, n] and sets
 * *cropped; otherwise returns n. */
size_t noise_crop(const noise_cfg_t *c, uint64_t unit, size_t n, bool *cropped);

/* Pre-training: mask seq[0..n) (after the crop) into xt. Fills *t, *p, *cropped; returns the
 * length used (≤ n); x0 is seq[0..len). *n_masked gets the masked count. */
size_t noise_pretrain(const noise_cfg_t *c, uint64_t unit, const int32_t *seq, size_t n, int32_t *xt, double *t,
                      double *p, bool *cropped, size_t *n_masked);

/* SFT: x0[0..prompt_len) is copied unmasked, x0[prompt_len..n) masked with p. Returns the
 * masked count; fills *t and *p. */
size_t noise_sft(const noise_cfg_t *c, uint64_t unit, const int32_t *x0, size_t n, size_t prompt_len, int32_t *xt,
                 double *t, double *p);

/* Likelihood: the stratified mask counts of one batch: l[i] for i < b, given the answer
 * length L ≥ 1 and the offset k ∈ [1, L]: the official estimator's float32 torch.linspace
 * (two-sided, fused multiply-add) and torch.round (half to even), wrapped into [1, L]. Exact
 * k + i·L/b for a power-of-two b; otherwise float32's rounding decides near-halves. */
void ll_counts(size_t L, size_t b, uint64_t k, size_t *l);

/* Likelihood: the offset k ~ U{1..L} of batch `batch` of group (source pair) `group`. */
uint64_t ll_offset(const noise_cfg_t *c, uint64_t group, uint64_t batch, size_t L);

/* Likelihood: mask exactly l of the L answer tokens x0[prompt_len..prompt_len+L), chosen
 * uniformly without replacement by a partial Fisher–Yates shuffle drawn from `r`. `scratch`
 * holds L uint32 (caller-owned). The prompt is copied unmasked. */
void ll_mask_exact(const int32_t *x0, int32_t *xt, size_t prompt_len, size_t L, size_t l, int32_t mask_id, mrng_t *r,
                   uint32_t *scratch);

/* Key for sample `mc` of likelihood group `group` (the permutation stream). */
void ll_sample_rng(const noise_cfg_t *c, uint64_t group, uint64_t mc, mrng_t *r);

#endif
