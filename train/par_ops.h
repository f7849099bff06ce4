/* par_ops.h — the training step's non-GEMM ops (kernels/bwd_ops.h) spread over threads.
 *
 * Work is cut into a FIXED number of chunks whatever the thread count, and partial sums are
 * reduced in chunk order, so results are bit-identical for any --threads (tests rely on it).
 */
#ifndef LLADA_TRAIN_PAR_OPS_H
#define LLADA_TRAIN_PAR_OPS_H

#include <stddef.h>
#include <stdint.h>

enum { PAR_CHUNKS = 16 };

void par_rmsnorm_fwd(int threads, const float *x, const float *w, float *y, float *rinv, int N, int D, float eps);
/* partial: scratch of PAR_CHUNKS * D floats for the per-chunk weight gradients. */
void par_rmsnorm_bwd(int threads, const float *dy, const float *x, const float *w, const float *rinv, float *dx,
                     float *dw, int N, int D, float *partial);
/* vec != 0: kernels' vector-exp versions (swiglu / swiglu_bwd, vmath.c) for the bf16 mode. */
void par_swiglu_fwd(int threads, int vec, const float *g, const float *u, float *a, size_t n);
void par_swiglu_bwd(int threads, int vec, const float *da, const float *g, const float *u, float *dg, float *du,
                    size_t n);
/* RoPE over B sequences of T tokens (chunked by sequence); inverse != 0: the backward. */
void par_rope(int threads, float *x, const float *cs, int B, int T, int nh, int hd, int inverse);
/* The bf16 step's fused ops (bwd_ops.h tr_*_bf16), chunked by rows (RoPE: by sequence). */
/* res != NULL: xo = x + res first, and xo normalised (tr_rmsnorm_fwd_bf16). */
void par_rmsnorm_fwd_b(int threads, const float *x, const float *res, float *xo, const float *w, uint16_t *yb,
                       float *rinv, int N, int D, float eps);
void par_rmsnorm_bwd_b(int threads, const float *dy, const float *x, const float *w, const float *rinv, float *dx,
                       uint16_t *dxb, float *dw, int N, int D, float *partial);
void par_rope_b(int threads, const float *x, int ldx, uint16_t *xb, int ldb, const float *cs, int B, int T, int nh,
                int hd, int inverse);
void par_swiglu_fwd_b(int threads, const float *g, const float *u, int ld, uint16_t *ab, int N, int F);
void par_swiglu_bwd_b(int threads, const float *da, const float *g, const float *u, int ld, uint16_t *dgb,
                      uint16_t *dub, int ldo, int N, int F);
/* dE[ids[n]] += dh[n], chunked by columns (rows of dE are shared between tokens). */
void par_embed_bwd(int threads, const float *dh, const int32_t *ids, float *dE, int N, int D);

#endif
