/* summarise_row.h — the arithmetic of one row's sampling summary, shared by the CUDA kernel
 * (kernels/cuda/summarise.cu, __host__ __device__) and its host-side test
 * (tests/unit/test_cuda_summarise.c, plain C), so the reduction logic that the GPU runs is
 * checked against denoise/sampler.c sampler_summarise() on machines without a GPU.
 *
 * A row is reduced in two passes. Pass 1, per element: the pick value g (the float logit at
 * T = 0, else (double)l - T·log(-log u) with u = crng_u01_from(prefix, i)), the maximum and
 * the top-2 multiset of the EOS-modified logits, and the maximum without the quirk's columns;
 * partial results merge associatively (ties on g go to the lower index, like the CPU's
 * first-maximum scan). Pass 2: Σexp(z), Σexp(z)·z and the quirk's Σexp in float64. The
 * finish step turns the totals into token, prob, margin, entropy and conf. Float64 sums are
 * written with SUMM_ADD/SUB/MUL so nvcc cannot contract them into FMAs the CPU does not do.
 */
#ifndef LLADA_CU_SUMMARISE_ROW_H
#define LLADA_CU_SUMMARISE_ROW_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include "crng.h"
#include "remask/remask.h"

#ifdef __CUDACC__
#define SUMM_FN static inline __host__ __device__
#else
#define SUMM_FN static inline
#endif
#ifdef __CUDA_ARCH__ /* device pass: round-to-nearest intrinsics, never FMAs */
#define SUMM_ADD(a, b) __dadd_rn(a, b)
#define SUMM_SUB(a, b) __dsub_rn(a, b)
#define SUMM_MUL(a, b) __dmul_rn(a, b)
#else
#define SUMM_ADD(a, b) ((a) + (b))
#define SUMM_SUB(a, b) ((a) - (b))
#define SUMM_MUL(a, b) ((a) * (b))
#endif

typedef struct {
    double temperature;
    int logits_eos_inf, conf_eos_eot_inf, fixed_eos;
    int32_t eos, eot; /* eot < 0 or >= V: no EOT column */
} cu_summ_opts_t;

typedef struct {
    double g; /* pick value */
    int idx;
    float mx, t1, t2; /* max, top-2 (multiset) of the EOS-modified logits */
    float mx2;        /* max without the quirk's EOT/EOS columns */
} summ_p1_t;

typedef struct {
    double s, sl, s2;
} summ_p2_t;

SUMM_FN bool summ_has_eot(const cu_summ_opts_t *o, int V) { return o->eot >= 0 && o->eot < V; }

/* Logit i after logits_eos_inf (and the fixed variant's EOT). */
SUMM_FN float summ_val(const float *l, int i, const cu_summ_opts_t *o, bool has_eot) {
    if (o->logits_eos_inf && (i == o->eos || (o->fixed_eos && has_eot && i == o->eot))) return -INFINITY;
    return l[i];
}

/* Columns the official quirk drops from the confidence softmax. */
SUMM_FN bool summ_excl(int i, const cu_summ_opts_t *o, bool has_eot) {
    return (has_eot && i == o->eot) || (o->temperature == 0 && i == o->eos);
}

SUMM_FN summ_p1_t summ_p1_init(void) {
    summ_p1_t a = {-INFINITY, 0x7fffffff, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    return a;
}

SUMM_FN void summ_p1_add(summ_p1_t *a, const float *l, int i, uint64_t prefix, const cu_summ_opts_t *o, bool has_eot) {
    float v = summ_val(l, i, o, has_eot);
    double g = v;
    if (o->temperature > 0) {
        double u = crng_u01_from(prefix, (uint64_t)i);
        g = SUMM_SUB((double)v, SUMM_MUL(o->temperature, log(-log(u))));
    }
    if (g > a->g) {
        a->g = g;
        a->idx = i;
    }
    if (v > a->t1) {
        a->t2 = a->t1;
        a->t1 = v;
    } else if (v > a->t2) a->t2 = v;
    a->mx = fmaxf(a->mx, v);
    if (!summ_excl(i, o, has_eot)) a->mx2 = fmaxf(a->mx2, v);
}

SUMM_FN void summ_p1_merge(summ_p1_t *a, const summ_p1_t *b) {
    if (b->g > a->g || (b->g == a->g && b->idx < a->idx)) {
        a->g = b->g;
        a->idx = b->idx;
    }
    float n1 = fmaxf(a->t1, b->t1), n2 = a->t1 >= b->t1 ? fmaxf(a->t2, b->t1) : fmaxf(a->t1, b->t2);
    a->t1 = n1;
    a->t2 = n2;
    a->mx = fmaxf(a->mx, b->mx);
    a->mx2 = fmaxf(a->mx2, b->mx2);
}

SUMM_FN void summ_p2_add(summ_p2_t *p, const float *l, int i, double mx, double mx2, const cu_summ_opts_t *o,
                         bool has_eot) {
    float v = summ_val(l, i, o, has_eot);
    if (v == -INFINITY) return;
    double z = SUMM_SUB((double)v, mx), ez = exp(z);
    p->s = SUMM_ADD(p->s, ez);
    p->sl = SUMM_ADD(p->sl, SUMM_MUL(ez, z));
    if (!summ_excl(i, o, has_eot)) p->s2 = SUMM_ADD(p->s2, exp(SUMM_SUB((double)v, mx2)));
}

/* Token, prob, margin, entropy and conf from the two passes' totals (pos left as is). */
SUMM_FN void summ_finish(const summ_p1_t *a, const summ_p2_t *t, const float *l, const cu_summ_opts_t *o, bool has_eot,
                         rm_cand_t *c) {
    int best = a->g == -INFINITY ? 0 : a->idx;
    float vb = summ_val(l, best, o, has_eot);
    double mx = a->mx, p = 0, margin = 0, ent = 0;
    if (mx != -INFINITY) {
        p = vb == -INFINITY ? 0.0 : exp(SUMM_SUB((double)vb, mx)) / t->s;
        margin =
            (exp(SUMM_SUB((double)a->t1, mx)) - (a->t2 == -INFINITY ? 0 : exp(SUMM_SUB((double)a->t2, mx)))) / t->s;
        ent = log(t->s) - t->sl / t->s;
    }
    c->token = best;
    c->prob = (float)p;
    c->margin = (float)margin;
    c->entropy = (float)ent;
    c->conf = p;
    if (!o->conf_eos_eot_inf) return;
    if (o->fixed_eos) {
        if (best == o->eos || (has_eot && best == o->eot)) c->conf = -INFINITY;
        return;
    }
    c->conf = (a->mx2 == -INFINITY || vb == -INFINITY || summ_excl(best, o, has_eot))
                  ? 0.0
                  : exp(SUMM_SUB((double)vb, (double)a->mx2)) / t->s2;
}

#endif
