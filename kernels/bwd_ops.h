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

#endif
