/* ckpt_model.c — conversion between the flat training parameters and denoise's model_t, the
 * in-memory form of an HF model folder (model_load / model_save). */
#include <stdlib.h>
#include <string.h>
#include "tparams.h"
#include "model/family.h"

/* The (model tensor, flat pointer) pairs in layout order. */
static int pairs(const llada_config_t *c, model_t *m, float *base, wtensor_t **wt, float **fp) {
    tview_t v;
    if (tparams_bind(c, base, &v)) return -1;
    int n = 0;
    wt[n] = &m->w.wte;
    fp[n++] = v.wte;
    for (int l = 0; l < c->n_layers; l++) {
        llada_layer_t *ml = &m->w.layers[l];
        tlayer_t *L = &v.layer[l];
        wt[n] = &ml->attn_norm;
        fp[n++] = L->attn_norm;
        wt[n] = &ml->q_proj;
        fp[n++] = L->wq;
        wt[n] = &ml->k_proj;
        fp[n++] = L->wk;
        wt[n] = &ml->v_proj;
        fp[n++] = L->wv;
        wt[n] = &ml->attn_out;
        fp[n++] = L->wo;
        wt[n] = &ml->ff_norm;
        fp[n++] = L->ff_norm;
        wt[n] = &ml->ff_proj;
        fp[n++] = L->wg;
        wt[n] = &ml->up_proj;
        fp[n++] = L->wu;
        wt[n] = &ml->ff_out;
        fp[n++] = L->wd;
    }
    wt[n] = &m->w.ln_f;
    fp[n++] = v.ln_f;
    wt[n] = &m->w.lm_head;
    fp[n++] = v.head;
    tparams_unbind(&v);
    return n;
}

int tparams_from_model(const model_t *m, float *base, lerr_t *e) {
    const llada_config_t *c = &m->cfg;
    if (m->family != &model_family_llada) /* the flat layout below is LLaDA's */
        return lerr_set(e, EXIT_DATA, "training a %s model is not supported (LLaDA only)", m->family->display);
    if (c->weight_tying) return lerr_set(e, EXIT_DATA, "training a weight-tied model is not supported");
    int cap = 4 + 9 * c->n_layers;
    wtensor_t **wt = malloc(sizeof(*wt) * cap);
    float **fp = malloc(sizeof(*fp) * cap);
    int n = (wt && fp) ? pairs(c, (model_t *)m, base, wt, fp) : -1;
    if (n < 0) {
        free(wt);
        free(fp);
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    }
    for (int i = 0; i < n; i++) wconvert_f32(fp[i], wt[i]->data, wt[i]->type, (size_t)(wt[i]->rows * wt[i]->cols));
    free(wt);
    free(fp);
    return 0;
}

model_t *tparams_to_model(const llada_config_t *c, const float *base, lerr_t *e) {
    llada_config_t cc = *c;
    cc.dtype = WT_F32;
    cc.weight_tying = false;
    model_t *m = model_new(&cc, e);
    if (!m) return NULL;
    int cap = 4 + 9 * c->n_layers;
    wtensor_t **wt = malloc(sizeof(*wt) * cap);
    float **fp = malloc(sizeof(*fp) * cap);
    int n = (wt && fp) ? pairs(c, m, (float *)base, wt, fp) : -1;
    if (n < 0) {
        free(wt);
        free(fp);
        model_destroy(&m);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    for (int i = 0; i < n; i++) memcpy((void *)wt[i]->data, fp[i], sizeof(float) * (size_t)(wt[i]->rows * wt[i]->cols));
    free(wt);
    free(fp);
    return m;
}
