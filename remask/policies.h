/* policies.h — constructors of the built-in policies, one file each; registry.c maps names
 * to them.
 *
 *   low_confidence  LLaDA's default: highest confidence first (low_confidence.c)
 *   random          seeded uniform order (random.c)
 *   threshold[:T]   Fast-dLLM threshold parallel decoding (threshold.c), T default 0.9
 *   factor[:F]      Fast-dLLM factor rule (factor.c), F default 1.0
 *   topk_margin     Dream's margin order: top-1 minus top-2 probability (margin.c)
 *   entropy         Dream's entropy order: lowest entropy first (entropy.c)
 *   eb[:GAMMA]      entropy-bounded sampler, EB-Sampler (eb.c), GAMMA default 0.01
 *   dynamic[:T]     SDAR's low_confidence_dynamic: all with conf > T when they reach the
 *                   quota, else the quota's most confident (dynamic.c), T default 0.85
 *   origin[:EPS]    Dream's default alg: each mask revealed with probability 1 - t[i+1]/t[i]
 *                   (origin.c), EPS default 1e-3
 *
 * threshold, factor and eb are adaptive (rm_ops_t.adaptive): they commit a variable number
 * of positions per step and denoise loops each block until it is filled, so the number of
 * forward passes (NFE, reported in every result record) is what they save. origin commits a
 * random number per step over the fixed step count. The others follow the schedule's quota
 * (n_commit). `param` is the text after ':' or NULL.
 */
#ifndef LLADA_REMASK_POLICIES_H
#define LLADA_REMASK_POLICIES_H

#include "remask.h"

rm_policy_t *rm_low_confidence_new(const char *param, lerr_t *e);
rm_policy_t *rm_random_new(const char *param, lerr_t *e);
rm_policy_t *rm_threshold_new(const char *param, lerr_t *e);
rm_policy_t *rm_factor_new(const char *param, lerr_t *e);
rm_policy_t *rm_margin_new(const char *param, lerr_t *e);
rm_policy_t *rm_entropy_new(const char *param, lerr_t *e);
rm_policy_t *rm_eb_new(const char *param, lerr_t *e);
rm_policy_t *rm_origin_new(const char *param, lerr_t *e);
rm_policy_t *rm_dynamic_new(const char *param, lerr_t *e);

#endif
