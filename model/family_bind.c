/* family_bind.c — the tensor-list helpers every family's tensor_specs uses (family.h):
 * append one named tensor, bind one layer (or every layer) from a table of per-layer
 * tensors, and the embedding / final norm / LM head at the ends. A family keeps only its
 * names and its extras (biases, norms, experts); the loop and the bookkeeping live here. */
#include <stdarg.h>
#include <stdio.h>
#include "model/family.h"

void family_add(model_tensor_spec_t *s, int *n, wtensor_t *dst, int ndim, int64_t rows, int64_t cols, const char *fmt,
                ...) {
    model_tensor_spec_t *t = &s[(*n)++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->ndim = ndim;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->dst = dst;
}

void family_bind_layer(model_tensor_spec_t *s, int *n, llada_layer_t *L, int l, const char *fmt,
                       const family_layer_tensor_t *t, int nt) {
    char name[96];
    for (int i = 0; i < nt; i++) {
        if (!t[i].on) continue;
        snprintf(name, sizeof name, fmt, l, t[i].name);
        family_add(s, n, (wtensor_t *)((char *)L + t[i].field), t[i].ndim, t[i].rows, t[i].cols, "%s", name);
    }
}

int family_bind(const llada_config_t *c, llada_weights_t *w, model_tensor_spec_t *s, const family_names_t *nm,
                const family_layer_tensor_t *t, int nt, family_layer_extra_fn extra) {
    int n = 0, d = c->d_model;
    family_add(s, &n, &w->wte, 2, c->embedding_size, d, "%s", nm->embedding);
    for (int l = 0; l < c->n_layers; l++) {
        family_bind_layer(s, &n, &w->layers[l], l, nm->layer, t, nt);
        if (extra) extra(c, &w->layers[l], l, s, &n);
    }
    family_add(s, &n, &w->ln_f, 1, d, 1, "%s", nm->norm);
    if (!c->weight_tying) family_add(s, &n, &w->lm_head, 2, c->embedding_size, d, "%s", nm->head);
    return n;
}
