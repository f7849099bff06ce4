/* par_ops.c — threaded wrappers of the fp32 training ops (see par_ops.h). */
#include <string.h>
#include "par_ops.h"
#include "par.h"
#include "bwd_ops.h"
#include "kernels.h"

typedef struct {
    const float *a, *b, *c, *d;
    float *o1, *o2, *o3;
    uint16_t *b1, *b2;
    int lda, ldb;
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

/* ---- the bf16 step's fused ops ---- */

static void rms_fwd_b_chunk(int i, void *arg) {
    job_t *j = arg;
    size_t lo, hi, D = j->D;
    lohi(j->N, i, &lo, &hi);
    if (hi > lo)
        tr_rmsnorm_fwd_bf16(j->a + lo * D, j->c ? j->c + lo * D : NULL, j->o1 ? j->o1 + lo * D : NULL, j->b,
                            j->b1 + lo * D, j->o2 + lo, (int)(hi - lo), j->D, j->eps);
}

void par_rmsnorm_fwd_b(int threads, const float *x, const float *res, float *xo, const float *w, uint16_t *yb,
                       float *rinv, int N, int D, float eps) {
    job_t j = {.a = x, .c = res, .o1 = xo, .b = w, .b1 = yb, .o2 = rinv, .N = N, .D = D, .eps = eps};
    par_for(PAR_CHUNKS, threads, rms_fwd_b_chunk, &j);
}

static void rms_bwd_b_chunk(int i, void *arg) {
    job_t *j = arg;
    size_t lo, hi, D = j->D;
    lohi(j->N, i, &lo, &hi);
    float *dw = j->o3 + (size_t)i * D;
    memset(dw, 0, sizeof(float) * D);
    if (hi > lo)
        tr_rmsnorm_bwd_bf16(j->a + lo * D, j->b + lo * D, j->c, j->d + lo, j->o1 ? j->o1 + lo * D : NULL,
                            j->b1 ? j->b1 + lo * D : NULL, dw, (int)(hi - lo), j->D);
}

void par_rmsnorm_bwd_b(int threads, const float *dy, const float *x, const float *w, const float *rinv, float *dx,
                       uint16_t *dxb, float *dw, int N, int D, float *partial) {
    job_t j = {.a = dy, .b = x, .c = w, .d = rinv, .o1 = dx, .b1 = dxb, .o3 = partial, .N = N, .D = D};
    par_for(PAR_CHUNKS, threads, rms_bwd_b_chunk, &j);
    for (int c = 0; c < PAR_CHUNKS; c++)
        for (int i = 0; i < D; i++) dw[i] += partial[(size_t)c * D + i];
}

static void rope_b_seq(int b, void *arg) {
    job_t *j = arg;
    size_t r = (size_t)b * j->T;
    tr_rope_bf16(j->b + r * j->lda, j->lda, j->b1 + r * j->ldb, j->ldb, j->a, j->T, j->T, j->nh, j->hd, j->flag);
}

void par_rope_b(int threads, const float *x, int ldx, uint16_t *xb, int ldb, const float *cs, int B, int T, int nh,
                int hd, int inverse) {
    job_t j = {.a = cs, .b = x, .lda = ldx, .b1 = xb, .ldb = ldb, .T = T, .nh = nh, .hd = hd, .flag = inverse};
    par_for(B, threads, rope_b_seq, &j);
}

static void swiglu_b_chunk(int i, void *arg) {
    job_t *j = arg;
    size_t lo, hi, F = j->D, ld = j->lda;
    lohi(j->N, i, &lo, &hi);
    if (hi <= lo) return;
    if (j->flag)
        tr_swiglu_bwd_bf16(j->a + lo * F, j->b + lo * ld, j->c + lo * ld, j->lda, j->b1 + lo * j->ldb,
                           j->b2 + lo * j->ldb, j->ldb, (int)(hi - lo), j->D);
    else tr_swiglu_fwd_bf16(j->b + lo * ld, j->c + lo * ld, j->lda, j->b1 + lo * F, (int)(hi - lo), j->D);
}

void par_swiglu_fwd_b(int threads, const float *g, const float *u, int ld, uint16_t *ab, int N, int F) {
    job_t j = {.b = g, .c = u, .lda = ld, .b1 = ab, .N = N, .D = F, .flag = 0};
    par_for(PAR_CHUNKS, threads, swiglu_b_chunk, &j);
}

void par_swiglu_bwd_b(int threads, const float *da, const float *g, const float *u, int ld, uint16_t *dgb,
                      uint16_t *dub, int ldo, int N, int F) {
    job_t j = {.a = da, .b = g, .c = u, .lda = ld, .b1 = dgb, .b2 = dub, .ldb = ldo, .N = N, .D = F, .flag = 1};
    par_for(PAR_CHUNKS, threads, swiglu_b_chunk, &j);
}
