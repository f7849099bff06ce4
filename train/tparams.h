/* tparams.h — a LLaDA model's parameters as one flat fp32 buffer, the form training wants.
 *
 * AdamW, clipping and checkpoints work on flat arrays; the forward/backward want named
 * matrices. tparams_bind lays the tensors of a config out in a fixed order over ANY flat
 * buffer (parameters, gradients, Adam moments share the layout):
 *   wte [V][d], per layer {attn_norm [d], q [Hq*hd][d], k [Hkv*hd][d], v [Hkv*hd][d],
 *   attn_out [d][Hq*hd], ff_norm [d], ff_proj [F][d], up_proj [F][d], ff_out [d][F]},
 *   ln_f [d], lm_head [V][d]   (V = embedding_size, untied as in LLaDA).
 * Conversion to and from denoise's model_t (HF folder layout) lives here too.
 */
#ifndef LLADA_TRAIN_TPARAMS_H
#define LLADA_TRAIN_TPARAMS_H

#include <stddef.h>
#include <stdint.h>
#include "model/model.h"

typedef struct {
    float *attn_norm, *wq, *wk, *wv, *wo, *ff_norm, *wg, *wu, *wd;
} tlayer_t;

typedef struct {
    float *wte, *ln_f, *head;
    tlayer_t *layer; /* [n_layers], owned by the view */
    size_t n;        /* total floats */
} tview_t;

/* Total number of floats of a config's parameters. */
size_t tparams_count(const llada_config_t *c);
/* Point v's tensors into base (float[tparams_count]). v->layer is allocated; 0 or -1 on OOM. */
int tparams_bind(const llada_config_t *c, float *base, tview_t *v);
void tparams_unbind(tview_t *v);
/* Whether float i of the flat layout belongs to a matrix (weight decay applies) rather than
 * a norm weight. Filled into mask[n] (1 = decay). */
void tparams_decay_mask(const llada_config_t *c, uint8_t *mask);

/* Initialise: norms 1, matrices N(0, std), the two residual output projections (attn_out,
 * ff_out) N(0, std/sqrt(2·n_layers)) (GPT-2 style), deterministic in seed. */
void tparams_init(const llada_config_t *c, float *base, double std, uint64_t seed);

/* Copy a loaded model's weights (any wtype) into base. EXIT_DATA if tied or shapes differ. */
int tparams_from_model(const model_t *m, float *base, lerr_t *e);
/* A new f32 model_t holding a copy of base (for model_save). NULL with e set. */
model_t *tparams_to_model(const llada_config_t *c, const float *base, lerr_t *e);

#endif
