/* precision.c — the GEMM precision of a model's forward (model.h: model_set_precision): every
 * linear weight of every layer (MoE layers: every expert's and the shared expert's; not the
 * router) and the LM head prepacked once into a kernels/ kpack_t (bf16,
 * or int8 with per-output-channel scales; oneDNN), kept in m->packs until the model goes or
 * the precision changes. forward.c's linear() runs through a pack when there is one. Each
 * packed matrix's pages of the file mapping are dropped once it is packed (model_release_weight),
 * so the process holds the packs, not the packs and the mapped weights; nothing but packing,
 * --quantize and a switch back to f32 reads those weights again, and a read refaults them. */
#include <stdlib.h>
#include <string.h>
#include "model/family.h"

int model_precision_parse(const char *name) {
    if (!strcmp(name, "f32")) return MODEL_PREC_F32;
    if (!strcmp(name, "bf16")) return MODEL_PREC_BF16;
    if (!strcmp(name, "int8")) return MODEL_PREC_INT8;
    return -1;
}

void model_packs_free(model_t *m) {
    model_packs_t *p = m->packs;
    if (!p) return;
    for (int l = 0; p->layers && l < m->cfg.n_layers; l++) {
        model_layer_packs_t *lp = &p->layers[l];
        kpack_t **all[] = {&lp->q_proj,  &lp->k_proj, &lp->v_proj,  &lp->attn_out, &lp->ff_proj,
                           &lp->up_proj, &lp->ff_out, &lp->sh_gate, &lp->sh_up,    &lp->sh_down};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) kpack_free(all[i]);
        kpack_t **exps[] = {lp->exp_gate, lp->exp_up, lp->exp_down};
        for (int k = 0; k < 3; k++) {
            for (int x = 0; exps[k] && x < m->cfg.n_experts; x++) kpack_free(&exps[k][x]);
            free(exps[k]);
        }
    }
    kpack_free(&p->lm_head);
    free(p->layers);
    free(p);
    m->packs = NULL;
}

int model_precision(const model_t *m) { return m->packs ? m->packs->prec : MODEL_PREC_F32; }
size_t model_precision_bytes(const model_t *m) { return m->packs ? m->packs->bytes : 0; }
size_t model_precision_released(const model_t *m) { return m->packs ? m->packs->released : 0; }

/* Pack W, then drop its mapped pages (model_release_weight): the forward reads the pack, so
 * the checkpoint's copy need not stay resident beside it. */
static int pack(model_t *m, kpack_t **dst, const wtensor_t *W, int prec, model_packs_t *p) {
    if (!W->data) return 0; /* a tensor this family does not have */
    if (!(*dst = kpack_new(W, prec == MODEL_PREC_BF16 ? KPREC_BF16 : KPREC_INT8))) return -1;
    p->bytes += kpack_bytes(*dst);
    p->released += model_release_weight(m, W);
    return 0;
}

/* A MoE layer's experts, each matrix its own pack (moe.c runs the rows routed to an expert
 * through them); nothing in a dense layer. */
static int pack_experts(model_t *m, model_layer_packs_t *lp, const llada_layer_t *w, int prec, model_packs_t *p) {
    int E = m->cfg.n_experts;
    if (!w->router.data || E <= 0) return 0;
    if (!(lp->exp_gate = calloc((size_t)E, sizeof *lp->exp_gate)) ||
        !(lp->exp_up = calloc((size_t)E, sizeof *lp->exp_up)) || !(lp->exp_down = calloc((size_t)E, sizeof *lp->exp_down)))
        return -1;
    for (int x = 0; x < E; x++)
        if (pack(m, &lp->exp_gate[x], &w->exp_gate[x], prec, p) || pack(m, &lp->exp_up[x], &w->exp_up[x], prec, p) ||
            pack(m, &lp->exp_down[x], &w->exp_down[x], prec, p))
            return -1;
    return 0;
}

int model_set_precision(model_t *m, int prec, lerr_t *e) {
    if (prec != MODEL_PREC_F32 && prec != MODEL_PREC_BF16 && prec != MODEL_PREC_INT8)
        return lerr_set(e, EXIT_USAGE, "unknown precision %d", prec);
    model_packs_free(m);
    if (prec == MODEL_PREC_F32) return 0;
    if (!kpack_available())
        return lerr_set(e, EXIT_USAGE, "--precision %s needs oneDNN: %s", prec == MODEL_PREC_BF16 ? "bf16" : "int8",
                        kpack_unavailable());
    model_packs_t *p = calloc(1, sizeof *p);
    if (!p || !(p->layers = calloc((size_t)m->cfg.n_layers, sizeof *p->layers))) {
        free(p);
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    }
    p->prec = prec;
    m->packs = p;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const llada_layer_t *w = &m->w.layers[l];
        model_layer_packs_t *lp = &p->layers[l];
        if (pack(m, &lp->q_proj, &w->q_proj, prec, p) || pack(m, &lp->k_proj, &w->k_proj, prec, p) ||
            pack(m, &lp->v_proj, &w->v_proj, prec, p) || pack(m, &lp->attn_out, &w->attn_out, prec, p) ||
            pack(m, &lp->ff_proj, &w->ff_proj, prec, p) || pack(m, &lp->up_proj, &w->up_proj, prec, p) ||
            pack(m, &lp->ff_out, &w->ff_out, prec, p) || pack(m, &lp->sh_gate, &w->sh_gate, prec, p) ||
            pack(m, &lp->sh_up, &w->sh_up, prec, p) || pack(m, &lp->sh_down, &w->sh_down, prec, p) ||
            pack_experts(m, lp, w, prec, p))
            goto oom;
    }
    if (pack(m, &p->lm_head, &m->w.lm_head, prec, p)) goto oom;
    return 0;
oom:
    model_packs_free(m);
    return lerr_set(e, EXIT_INTERNAL, "out of memory (or a oneDNN error) prepacking the weights");
}
