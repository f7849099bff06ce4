/* adamw.h — AdamW over flat fp32 buffers, with linear warm-up + cosine decay and global
 * gradient-norm clipping (the optimiser of LLaDA's pre-training, at small scale).
 */
#ifndef LLADA_TRAIN_ADAMW_H
#define LLADA_TRAIN_ADAMW_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double lr, min_lr;                            /* peak and final learning rate */
    int64_t warmup, total;                        /* steps of linear warm-up; total steps (cosine ends there) */
    double beta1, beta2, eps, weight_decay, clip; /* clip <= 0: no clipping */
} adamw_cfg_t;

void adamw_cfg_default(adamw_cfg_t *c);

/* Learning rate at step `step` (0-based): lr·(step+1)/warmup during warm-up, then cosine from
 * lr down to min_lr at `total`, min_lr afterwards. */
double adamw_lr(const adamw_cfg_t *c, int64_t step);

/* √Σg² in double. */
double grad_norm(const float *g, size_t n);

/* One update at step `step` (0-based; bias correction uses step+1): clips g to norm `clip`
 * (given its norm gnorm), then m,v ← moments, p ← p − lr·(m̂/(√v̂+eps) + wd·p·decay[i]).
 * decay may be NULL (decay everything). Returns the learning rate used. */
double adamw_update(const adamw_cfg_t *c, int64_t step, float *p, const float *g, float *m, float *v,
                    const uint8_t *decay, size_t n, double gnorm);
/* The same as a plain loop (the reference; adamw_update's AVX-512 path gives the same bits). */
double adamw_update_ref(const adamw_cfg_t *c, int64_t step, float *p, const float *g, float *m, float *v,
                        const uint8_t *decay, size_t n, double gnorm);

#endif
