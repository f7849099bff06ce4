/* bwd_ops.h — fp32 training ops: forwards that keep what the backward needs, and backwards.
 *
 * Used by train/ for pre-training / SFT of LLaDA-style models on the CPU. Layouts are row-major,
 * token-major: an activation of N tokens and width D is float[N*D]. Linear weights are stored
 * PyTorch style, W[out][in], so y = x·Wᵀ.
 *
 * Gradient convention: every backward ADDS into its gradient outputs (dx, dW, ...), so residual
 * branches and weights shared between calls accumulate naturally; callers zero them first.
 * Each op is tested against finite differences of an independent double-precision forward in
 * tests/unit/test_bwd.c.
 */
#ifndef LLADA_BWD_OPS_H
#define LLADA_BWD_OPS_H

#include <stddef.h>
#include <stdint.h>

/* y[n][o] = Σ_i x[n][i]·W[o][i]  (x: N×Din, W: Dout×Din, y: N×Dout, overwritten). BLAS sgemm. */
void tr_linear_fwd(const float *x, const float *W, float *y, int N, int Din, int Dout);
/* dx += dy·W ; dW += dyᵀ·x. Either output may be NULL to skip it. */
void tr_linear_bwd(const float *dy, const float *x, const float *W, float *dx, float *dW, int N, int Din, int Dout);

/* RMSNorm: y = x · rinv · w with rinv = 1/sqrt(mean(x²) + eps); rinv[N] saved for backward. */
void tr_rmsnorm_fwd(const float *x, const float *w, float *y, float *rinv, int N, int D, float eps);
void tr_rmsnorm_bwd(const float *dy, const float *x, const float *w, const float *rinv, float *dx, float *dw, int N,
                    int D);

/* RoPE, half-split (NeoX) rotation as in LLaDA: for each head vector of size hd and position p,
 * out[i] = x[i]cos − x[i+hd/2]sin, out[i+hd/2] = x[i+hd/2]cos + x[i]sin, angle p·θ^(−2i/hd).
 * Table: cs[T][hd/2][2] = (cos, sin), built once for positions 0..T-1 (computed in double). */
void tr_rope_table(float *cs, int T, int hd, double theta);
/* In place on x (N tokens × nh heads × hd); token n has position n % T. */
void tr_rope_fwd(float *x, const float *cs, int N, int T, int nh, int hd);
/* In place on dx: the backward of a rotation is the inverse rotation. */
void tr_rope_bwd(float *dx, const float *cs, int N, int T, int nh, int hd);

/* Scaled dot-product attention for ONE (sequence, head) pair: rows of q/o have stride ldq,
 * rows of k/v stride ldk (so heads are slices of the N×D projections; GQA shares k/v).
 * P[T][T] (softmax probabilities) is saved for the backward. causal != 0 hides keys j > i
 * (the AR baseline); LLaDA itself is bidirectional. scale is usually 1/sqrt(hd). */
void tr_attn_fwd(const float *q, const float *k, const float *v, float *o, float *P, int T, int hd, int ldq, int ldk,
                 float scale, int causal);
/* The same with the softmax on kernels' vector max/exp (vmath.c: within 2 ulp of expf; sums in
 * fp32 vector lanes), for train's bf16 mode; compared with tr_attn_fwd in test_train_bf16. */
void tr_attn_fwd_vec(const float *q, const float *k, const float *v, float *o, float *P, int T, int hd, int ldq,
                     int ldk, float scale, int causal);
/* dq += ..., dk += ..., dv += ...; scratch: float[T*T] */
void tr_attn_bwd(const float *dout, const float *q, const float *k, const float *v, const float *P, float *dq,
                 float *dk, float *dv, int T, int hd, int ldq, int ldk, float scale, float *scratch);

/* SwiGLU: a = silu(g) ⊙ u over n elements (g, u saved by the caller). */
void tr_swiglu_fwd(const float *g, const float *u, float *a, size_t n);
void tr_swiglu_bwd(const float *da, const float *g, const float *u, float *dg, float *du, size_t n);

/* Embedding: h[n] = E[ids[n]] (E: V×D). Backward: dE[ids[n]] += dh[n]. ids must be < V. */
void tr_embed_fwd(const float *E, const int32_t *ids, float *h, int N, int D);
void tr_embed_bwd(const float *dh, const int32_t *ids, float *dE, int N, int D);

/* Weighted cross-entropy over rows of logits (N×V), in place: returns Σ_n w[n]·(lse_n − z[n][y_n])
 * (natural log) and overwrites logits with d/dz of that sum: w[n]·(softmax − onehot(y_n)).
 * Rows with w[n] == 0 contribute nothing and get zero gradient. ce_out (may be NULL) receives
 * the unweighted per-row CE. */
double tr_xent_fwd_bwd(float *logits, const int32_t *y, const float *w, int N, int V, float *ce_out);
/* The same with kernels' vector max/exp and fp32 sums (train's bf16 mode; test_train_bf16
 * compares it with tr_xent_fwd_bwd). */
double tr_xent_fwd_bwd_vec(float *logits, const int32_t *y, const float *w, int N, int V, float *ce_out);
/* One row of the vectorised cross-entropy (tr_xent_fwd_bwd_vec and its bf16 form): z's V logits
 * become exp(z - max); *ce = the row's cross-entropy at label y; returns w / sum, the factor that
 * turns z into the row's softmax times w. */
float tr_xent_row_exp(float *z, int V, int y, float w, double *ce);

/* ---- train's bf16 step (bwd_bf16.c): ops whose output feeds a bf16 GEMM write it rounded to
 * bf16 (f32_to_bf16's bits) in the same pass. AVX-512 at run time, plain loops otherwise; each
 * *_ref is the plain reference (the fp32 op above, then the rounding), compared in
 * tests/unit/test_train_bf16.c. Row strides (ld*) in elements. ---- */
/* RMSNorm forward with y written only as bf16 (sums of squares in double lanes). With res != NULL
 * the residual add before it too: xo = x + res (fp32, kept), y = rmsnorm(xo). */
void tr_rmsnorm_fwd_bf16(const float *x, const float *res, float *xo, const float *w, uint16_t *yb, float *rinv, int N,
                         int D, float eps);
void tr_rmsnorm_fwd_bf16_ref(const float *x, const float *res, float *xo, const float *w, uint16_t *yb, float *rinv,
                             int N, int D, float eps);
/* tr_rmsnorm_bwd (dx +=, dw +=) that also writes dxb = dx rounded (dxb may be NULL; dx may be
 * NULL only with dxb NULL). */
void tr_rmsnorm_bwd_bf16(const float *dy, const float *x, const float *w, const float *rinv, float *dx, uint16_t *dxb,
                         float *dw, int N, int D);
void tr_rmsnorm_bwd_bf16_ref(const float *dy, const float *x, const float *w, const float *rinv, float *dx,
                             uint16_t *dxb, float *dw, int N, int D);
/* RoPE (inverse != 0: the backward's inverse rotation) of fp32 rows x (stride ldx) written as
 * bf16 rows xb (stride ldb); token n has position n % T; cs as tr_rope_table. */
void tr_rope_bf16(const float *x, int ldx, uint16_t *xb, int ldb, const float *cs, int N, int T, int nh, int hd,
                  int inverse);
void tr_rope_bf16_ref(const float *x, int ldx, uint16_t *xb, int ldb, const float *cs, int N, int T, int nh, int hd,
                      int inverse);
/* SwiGLU a = silu(g)·u over N rows of F (g, u rows of stride ld), a written as bf16 [N][F]. */
void tr_swiglu_fwd_bf16(const float *g, const float *u, int ld, uint16_t *ab, int N, int F);
void tr_swiglu_fwd_bf16_ref(const float *g, const float *u, int ld, uint16_t *ab, int N, int F);
/* SwiGLU backward from da [N][F]: dg, du WRITTEN (not added) as bf16 rows of stride ldo. */
void tr_swiglu_bwd_bf16(const float *da, const float *g, const float *u, int ld, uint16_t *dgb, uint16_t *dub, int ldo,
                        int N, int F);
void tr_swiglu_bwd_bf16_ref(const float *da, const float *g, const float *u, int ld, uint16_t *dgb, uint16_t *dub,
                            int ldo, int N, int F);
/* One attention row of n scores in place: p[0..nk) = softmax(scale·p[0..nk)) (scale > 0),
 * p[nk..n) = 0 (causal), pb = p rounded. */
void tr_softmax_row_bf16(float *p, uint16_t *pb, int n, int nk, float scale);
void tr_softmax_row_bf16_ref(float *p, uint16_t *pb, int n, int nk, float scale);
/* Its backward: dsb = round(scale·p⊙(dp − Σ p⊙dp)). */
void tr_softmax_bwd_row_bf16(const float *p, const float *dp, uint16_t *dsb, int n, float scale);
void tr_softmax_bwd_row_bf16_ref(const float *p, const float *dp, uint16_t *dsb, int n, float scale);
/* tr_xent_fwd_bwd_vec with the gradient written as bf16 into gb [N][V] (logits: scratch). */
double tr_xent_fwd_bwd_bf16(float *logits, const int32_t *y, const float *w, int N, int V, float *ce_out,
                            uint16_t *gb);
double tr_xent_fwd_bwd_bf16_ref(float *logits, const int32_t *y, const float *w, int N, int V, float *ce_out,
                                uint16_t *gb);
/* Tests: cap the dispatch of the ops above at level (0 plain loops, 1 AVX-512 with integer
 * rounding, 2 with AVX512-BF16's VCVTNEPS2BF16; never above the CPU's); returns the level in
 * use before the call. */
int tr_bf16_set_isa(int level);
/* bf16_round_n over rows: b[r][c] = x[r][c] rounded, r < rows, c < cols. */
void bf16_round_rows(uint16_t *b, int ldb, const float *x, int ldx, int rows, int cols);

#endif
