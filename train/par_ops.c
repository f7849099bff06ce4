/* par_ops.c — threaded wrappers of the fp32 training ops (see par_ops.h). */
#include <string.h>
#include "par_ops.h"
#include "par.h"
#include "bwd_ops.h"
#include "kernels.h"

typedef struct {
    const float *a, *b, *c, *d;
    float *o1, *o2, *o3;
    const int32_t *ids;
    size_t n;
    int N, D, T, nh, hd, flag, vec;
    float eps;
} job_t;

static void lohi(size_t n, int i, size_t *lo, size_t *hi) {
    *lo = n * (size_t)i / PAR_CHUNKS;
    *hi = n * (size_t)(i + 1) / PAR_CHUNKS;
}

static void rms_fwd_chunk(int i, void *arg) {
    job_t *j = arg;
    size_t lo, hi, D = j->D;
    lohi(j->N, i, &lo, &hi);
    if (hi > lo) tr_rmsnorm_fwd(j->a + lo * D, j->b, j->o1 + lo * D, j->o2 + lo, (int)(hi - lo), j->D, j->eps);
}

void par_rmsnorm_fwd(int threads, const float *x, const float *w, float *y, float *rinv, int N, int D, float eps) {
    job_t j = {.a = x, .b = w, .o1 = y, .o2 = rinv, .N = N, .D = D, .eps = eps};
    par_for(PAR_CHUNKS, threads, rms_fwd_chunk, &j);
}

static void rms_bwd_chunk(int i, void *arg) {
    job_t *j = arg;
    size_t lo, hi, D = j->D;
    lohi(j->N, i, &lo, &hi);
    float *dw = j->o3 + (size_t)i * D;
    memset(dw, 0, sizeof(float) * D);
    if (hi > lo)
        tr_rmsnorm_bwd(j->a + lo * D, j->b + lo * D, j->c, j->d + lo, j->o1 ? j->o1 + lo * D : NULL, dw, (int)(hi - lo),
                       j->D);
}

void par_rmsnorm_bwd(int threads, const float *dy, const float *x, const float *w, const float *rinv, float *dx,
                     float *dw, int N, int D, float *partial) {
    job_t j = {.a = dy, .b = x, .c = w, .d = rinv, .o1 = dx, .o3 = partial, .N = N, .D = D};
    par_for(PAR_CHUNKS, threads, rms_bwd_chunk, &j);
    for (int c = 0; c < PAR_CHUNKS; c++)
        for (int i = 0; i < D; i++) dw[i] += partial[(size_t)c * D + i];
}

static void swiglu_chunk(int i, void *arg) {
    job_t *j = arg;
    size_t lo, hi;
    lohi(j->n, i, &lo, &hi);
    if (hi <= lo) return;
    if (j->flag && j->vec) swiglu_bwd(j->a + lo, j->b + lo, j->c + lo, j->o1 + lo, j->o2 + lo, hi - lo);
    else if (j->flag) tr_swiglu_bwd(j->a + lo, j->b + lo, j->c + lo, j->o1 + lo, j->o2 + lo, hi - lo);
    else if (j->vec) swiglu(j->o1 + lo, j->a + lo, j->b + lo, hi - lo);
    else tr_swiglu_fwd(j->a + lo, j->b + lo, j->o1 + lo, hi - lo);
}

void par_swiglu_fwd(int threads, int vec, const float *g, const float *u, float *a, size_t n) {
    job_t j = {.a = g, .b = u, .o1 = a, .n = n, .flag = 0, .vec = vec};
    par_for(PAR_CHUNKS, threads, swiglu_chunk, &j);
}

void par_swiglu_bwd(int threads, int vec, const float *da, const float *g, const float *u, float *dg, float *du,
                    size_t n) {
    job_t j = {.a = da, .b = g, .c = u, .o1 = dg, .o2 = du, .n = n, .flag = 1, .vec = vec};
    par_for(PAR_CHUNKS, threads, swiglu_chunk, &j);
}

static void rope_seq(int b, void *arg) {
    job_t *j = arg;
    float *x = j->o1 + (size_t)b * j->T * j->nh * j->hd;
    if (j->flag) tr_rope_bwd(x, j->a, j->T, j->T, j->nh, j->hd);
    else tr_rope_fwd(x, j->a, j->T, j->T, j->nh, j->hd);
}

void par_rope(int threads, float *x, const float *cs, int B, int T, int nh, int hd, int inverse) {
    job_t j = {.a = cs, .o1 = x, .T = T, .nh = nh, .hd = hd, .flag = inverse};
    par_for(B, threads, rope_seq, &j);
}

static void embed_cols(int i, void *arg) {
    job_t *j = arg;
    size_t lo, hi, D = j->D;
    lohi(D, i, &lo, &hi);
    for (int n = 0; n < j->N; n++) {
        float *e = j->o1 + (size_t)j->ids[n] * D;
        const float *g = j->a + (size_t)n * D;
        for (size_t k = lo; k < hi; k++) e[k] += g[k];
    }
}

void par_embed_bwd(int threads, const float *dh, const int32_t *ids, float *dE, int N, int D) {
    job_t j = {.a = dh, .ids = ids, .o1 = dE, .N = N, .D = D};
    par_for(PAR_CHUNKS, threads, embed_cols, &j);
}
