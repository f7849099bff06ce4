/* kernels.h — CPU forward operations of a LLaDA transformer (fp32 activations).
 *
 * Plain functions over row-major arrays, no global state except the BLAS threading set up
 * by kern_set_threads() and the per-thread buffers below. The training engineer calls them for
 * the training forward and writes the backward beside them in kernels/bwd_*.c; the CUDA
 * backend mirrors them in kernels/cuda/. Every fast path has a plain reference (suffix
 * _ref) and tests/unit/test_kernels.c compares them.
 *
 * Conventions: x is [M][K] activations, W is a PyTorch Linear weight [N][K] (out, in), so a
 * projection is y = x · Wᵀ ([M][N]). Weights may be f32, bf16 or f16 (wtensor_t).
 *
 * Shape checks (ggml's GGML_ASSERT): every public kernel checks its shapes, types and
 * pointers with KERN_ASSERT on entry — O(1) checks (embed: O(T), the token ids) that stay on
 * in release builds. A failed check is a programming error in the caller, never bad input
 * (tools validate data before it reaches a kernel): it prints "FILE:LINE: kernel check
 * failed: COND" on stderr and aborts.
 *
 * Memory: no kernel allocates per call. Working memory comes from the caller where the
 * signature has room for it (attention's `att`, sized by attention_scratch_floats), else
 * from per-thread buffers that grow to the largest call and are kept (kern_scratch: the
 * matmul panels and the bf16/AMX operand copies), freed when their thread exits.
 */
#ifndef LLADA_KERNELS_H
#define LLADA_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define KERN_ASSERT(cond) \
    do { \
        if (__builtin_expect(!(cond), 0)) kern_assert_fail(__FILE__, __LINE__, #cond); \
    } while (0)
__attribute__((noreturn, cold)) void kern_assert_fail(const char *file, int line, const char *cond);

/* A weight view a kernel can read: a known type, sizes that fit an int, data unless empty. */
#define KERN_ASSERT_WEIGHT(W) \
    KERN_ASSERT((W) && (unsigned)(W)->type < WT_N && (W)->rows >= 0 && (W)->cols >= 0 && (W)->rows <= INT32_MAX && \
                (W)->cols <= INT32_MAX && (W)->cols % wtype_block((W)->type) == 0 && \
                ((W)->data || (W)->rows == 0 || (W)->cols == 0))

/* Most threads a kernel splits work over (kern_threads() <= this). */
#define KERN_MAX_THREADS 64

/* Storage type of a weight matrix. The block-quantised types are GGUF's (ggml's) layouts,
 * read as stored (kernels/quant.h; issue 13): each row is cols / wtype_block(t) blocks. */
typedef enum {
    WT_F32 = 0,
    WT_BF16 = 1,
    WT_F16 = 2,
    WT_Q8_0 = 3, /* 32 weights: f16 d, int8 q[32]; w = d q                         (34 B) */
    WT_Q4_0 = 4, /* 32 weights: f16 d, 16 B nibbles; w = d (q - 8)                  (18 B) */
    WT_Q4_K = 5, /* 256 weights: f16 d, dmin, 12 B 6-bit scales/mins, 128 B nibbles (144 B) */
    WT_Q6_K = 6, /* 256 weights: 128 B low nibbles, 64 B high 2 bits, int8 sc[16], f16 d (210 B) */
    WT_Q5_K = 7, /* 256 weights: f16 d, dmin, 12 B scales/mins as Q4_K, 32 B high bits, 128 B nibbles (176 B) */
    WT_Q5_0 = 8, /* 32 weights: f16 d, u32 qh (fifth bits), 16 B nibbles; w = d (q - 16)   (22 B) */
    WT_Q5_1 = 9, /* 32 weights: f16 d, f16 m, u32 qh, 16 B nibbles; w = d q + m           (24 B) */
    WT_N
} wtype_t;

/* A borrowed 2-D weight view: rows x cols elements of `type` at `data`, row-major,
 * rows contiguous (stride = wtype_bytes(type, cols)). 1-D weights use rows = 1. */
typedef struct {
    wtype_t type;
    const void *data;
    int64_t rows, cols;
} wtensor_t;

/* Bytes of one element of a float type (f32/bf16/f16 only; quantised types have none). */
size_t wtype_size(wtype_t t);
const char *wtype_name(wtype_t t); /* "f32" "bf16" "f16" "q8_0" "q4_0" "q4_k" "q6_k" "q5_k" "q5_0" "q5_1" */
/* Elements per block: 1 for float types, 32 (Q8_0, Q4_0, Q5_0, Q5_1) or 256 (Q4_K, Q5_K, Q6_K). */
int wtype_block(wtype_t t);
/* Bytes of n elements (n a multiple of wtype_block(t)). */
size_t wtype_bytes(wtype_t t, size_t n);
static inline bool wtype_is_quant(wtype_t t) { return t >= WT_Q8_0; }

/* Scalar conversions (round-to-nearest-even for f32 -> bf16/f16; NaN preserved). */
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
/* dst[i] = float(src row-major elements [0, n)) of any wtype (quantised types: n a multiple
 * of the block; dequantised by the plain references of quant.c). */
void wconvert_f32(float *dst, const void *src, wtype_t t, size_t n);

/* ---- GEMM ---- */
/* y[M][N] = x[M][K] · W[N][K]ᵀ (+ y if accumulate). W of any wtype; bf16/f16 weights are
 * converted panel by panel (~16 MB, a per-thread buffer kept between calls; never the whole
 * matrix). Uses OpenBLAS
 * sgemm (multithreaded) for the products. */
void matmul(float *y, const float *x, const wtensor_t *W, int M, bool accumulate);
/* bf16 weights, few rows: AVX-512-BF16 kernel (x split into two bf16 parts, fp32 accuracy).
 * Returns -1 (nothing done) on OOM; callers check matmul_bf16_available() first. matmul()
 * uses it for bf16 weights when M <= MATMUL_BF16_MAX_M, and matmul_amx above that. */
#define MATMUL_BF16_MAX_M 16
/* bf16 weights, many rows: AMX tiles (x split hi/lo as above). -1 on OOM. */
bool matmul_amx_available(void);
int matmul_amx(float *y, const float *x, const wtensor_t *W, int M, bool accumulate);
/* The panel path alone (16-bit weights converted panel by panel, then sgemm). */
void matmul_panels(float *y, const float *x, const wtensor_t *W, int M, bool accumulate);
bool matmul_bf16_available(void);
int matmul_bf16(float *y, const float *x, const wtensor_t *W, int M, bool accumulate);
/* Same, plain triple loop in double accumulation (reference for tests; slow). */
void matmul_ref(float *y, const float *x, const wtensor_t *W, int M, bool accumulate);
/* C[M][N] = alpha * A[M][K] · B[N][K]ᵀ + beta * C (f32; leading dimensions given).
 * (Not named sgemm_*: OpenBLAS exports internal drivers sgemm_nn/sgemm_nt, and a program
 * symbol of that name silently replaces them inside the library.) */
void kgemm_nt(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C,
              int ldc);
/* C[M][N] = alpha * A[M][K] · B[K][N] + beta * C. */
void kgemm_nn(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C,
              int ldc);

/* ---- elementwise / row ops ---- */
/* y[m][:] = x[m][:] / sqrt(mean(x[m]²) + eps) * w  (normalise in fp32, then weight;
 * LLaDA: cast back to the model dtype happens before the weight, irrelevant in fp32).
 * w may be NULL (no affine). y may alias x. */
void rmsnorm(float *y, const float *x, const wtensor_t *w, int M, int D, float eps);
/* Same, also writes rstd[m] = 1/sqrt(mean+eps) when rstd != NULL (for backward). */
void rmsnorm_fwd(float *y, float *rstd, const float *x, const wtensor_t *w, int M, int D, float eps);

/* RoPE tables for positions [0, L): cos/sin[L][head_dim/2], fp32 computed from double
 * angles pos * theta^(-2i/head_dim). */
void rope_tables(float *cos_t, float *sin_t, int L, int head_dim, double theta);
/* Rotate in place, half-split (NeoX / HF rotate_half): for each token t (position pos[t] or
 * t when pos == NULL) and head h, with x the head vector of length hd:
 * x'[i] = x[i]cos - x[i+hd/2]sin ; x'[i+hd/2] = x[i+hd/2]cos + x[i]sin.
 * x is [T][n_heads*hd]; tables from rope_tables with at least max(pos)+1 rows. */
void rope_apply(float *x, int T, int n_heads, int hd, const float *cos_t, const float *sin_t, const int32_t *pos);
/* Partial rotary (HF apply_rotary_pos_emb with rotary_dim rd < hd, LLaDA2): rope_apply on the
 * first rd channels of each head of hd (pairs i, i + rd/2), the other hd - rd unchanged;
 * tables from rope_tables(.., rd, ..). rope_apply is rd == hd. */
void rope_apply_part(float *x, int T, int n_heads, int hd, int rd, const float *cos_t, const float *sin_t,
                     const int32_t *pos);

/* Multi-head attention for ONE sequence of length L: bidirectional, or with causal != 0
 * query i sees keys j <= i only (its own key even when keep hides it).
 * q [L][Hq*hd], k,v [L][Hkv*hd] (GQA: query head h uses kv head h / (Hq/Hkv)),
 * keep [L] (1 = real key, 0 = padding hidden from every query; NULL = all real),
 * out [L][Hq*hd]. Scores scratch `att` of attention_scratch_floats(L, Hq) floats (unused,
 * may be NULL, when probs_out is given). scale = 1/sqrt(hd).
 * Padding queries are still computed (as in LLaDA). If probs_out != NULL it receives the
 * softmax probabilities [Hq][L][L] (for backward). */
void attention(float *out, const float *q, const float *k, const float *v, int L, int Hq, int Hkv, int hd,
               const uint8_t *keep, int causal, float *att, float *probs_out);
/* The same for Lq <= L query rows (q, out [Lq][Hq*hd], any positions: RoPE is applied by
 * the caller) against all L keys k, v [L][Hkv*hd] with key mask keep [L]; `att` as for
 * attention with the same L (required); never causal. A block's queries against the whole cached
 * canvas, by the tiled kernel (the KV-cache steps of the forward now take attention_flash; this
 * stays as its same-run comparison in bench/attn.sh). */
void attention_rows(float *out, const float *q, int Lq, const float *k, const float *v, int L, int Hq, int Hkv, int hd,
                    const uint8_t *keep, float *att);
/* Fused (flash-style) attention (attn_flash.c): Lq query rows q, out [Lq][Hq*hd] against L keys
 * k, v [L][Hkv*hd] with key mask keep [L] (NULL: all real), bidirectional; tiles of 64 queries
 * x 64 keys with an online softmax, never a row of L scores. Same contract as attention_rows
 * (and, with Lq == L, as attention without causal/probs) but not bit-identical to them: within
 * 2e-6 relative of attention_rows_ref (test_kernels). A query whose keys are all hidden gets 0.
 * Working memory: the calling threads' KERN_SCRATCH_ATTN buffers (the plain loop when they
 * cannot be had). attention_flash_with runs one ISA (<= attention_flash_isa(), for tests and
 * benchmarks); attention_flash the best this CPU has. */
enum { ATT_ISA_PLAIN = 0, ATT_ISA_AVX2 = 1, ATT_ISA_AVX512 = 2 };
int attention_flash_isa(void);
void attention_flash(float *out, const float *q, int Lq, const float *k, const float *v, int L, int Hq, int Hkv, int hd,
                     const uint8_t *keep);
void attention_flash_with(int isa, float *out, const float *q, int Lq, const float *k, const float *v, int L, int Hq,
                          int Hkv, int hd, const uint8_t *keep);
/* Floats of attention's scratch: a tile of scores per thread, whatever the thread count. */
size_t attention_scratch_floats(int L, int Hq);
void attention_ref(float *out, const float *q, const float *k, const float *v, int L, int Hq, int Hkv, int hd,
                   const uint8_t *keep, int causal);
void attention_rows_ref(float *out, const float *q, int Lq, const float *k, const float *v, int L, int Hq, int Hkv,
                        int hd, const uint8_t *keep);

/* out[m][i] = silu(gate[m][i]) * up[m][i]; out may alias gate or up. */
void swiglu(float *out, const float *gate, const float *up, size_t n);
/* y[i] += x[i] */
void residual_add(float *y, const float *x, size_t n);
/* In place over each of M rows of length N: softmax / log-softmax (max-subtracted, fp32 with
 * double sums). -INFINITY entries get probability 0. */
void softmax_rows(float *x, int M, int N);
void log_softmax_rows(float *x, int M, int N);
/* Vector helpers (AVX-512 when available): max of x[0..n); x[i] = exp(x[i] - mx) in place
 * returning the sum. */
float vmax_f32(const float *x, int n);
float vexp_sub_sum(float *x, int n, float mx);
/* SwiGLU's backward (bwd_ops.h tr_swiglu_bwd, adding into dg, du) with the vector exp: the
 * training step's bf16 mode (train/step.c). */
void swiglu_bwd(const float *da, const float *g, const float *u, float *dg, float *du, size_t n);
/* Embedding gather: out[t][:] = float(E[tokens[t]][:]); tokens must be < E->rows. */
void embed(float *out, const wtensor_t *E, const int32_t *tokens, int T);

/* ---- reduced-precision GEMMs (denoise --precision; gemm_dnnl.c, prec_ref.c) ----
 * y[M][N] (+)= x[M][K] · W[N][K]ᵀ with W prepacked once (kpack_new, at load) for
 *   KPREC_BF16: x and W rounded to bf16, products accumulated in fp32;
 *   KPREC_INT8: W quantised per output row, x per row at each call (quant_row_s8), int32
 *               accumulation, y = acc * sx[m] * sw[n].
 * On oneDNN's matmul (run-time ISA dispatch: AMX, AVX512-BF16/VNNI, AVX-512, AVX2).
 * oneDNN is loaded with dlopen on the first kpack_available() / kpack_new() (dnnl_env.c).
 * kpack_new: NULL on OOM, or when oneDNN is unavailable: built without it or libdnnl.so.2
 * missing at run time (kpack_available() false; kpack_unavailable() the reason, one line,
 * "" when available). The pack
 * owns its copy; W may be unmapped afterwards. A bf16 W is reordered straight from its memory
 * into the pack (no transient copy; others are converted into a temporary plain matrix). kpack_matmul: 0, or -1 (OOM / oneDNN error:
 * y undefined). A pack may be used from several threads (calls are serialised). */
enum { KPREC_F32, KPREC_BF16, KPREC_INT8 };
typedef struct kpack kpack_t;
bool kpack_available(void);
const char *kpack_unavailable(void);
kpack_t *kpack_new(const wtensor_t *W, int prec);
void kpack_free(kpack_t **P);
int kpack_matmul(float *y, const float *x, kpack_t *P, int M, bool accumulate);
/* The same GEMM in two halves, for several packs that read one x (Q/K/V, gate/up): x[M][K]
 * converted once for precision prec (bf16, or int8 + per-row scales) into the calling
 * thread's KERN_SCRATCH_SPLIT buffer, which `in` borrows: valid until that thread's next
 * kpack_in_prepare / kpack_matmul / matmul_bf16 / matmul_amx. kpack_matmul_in needs
 * P's precision and K to match; same results as kpack_matmul(y, x, P, M, accumulate).
 * Both return 0, or -1 (OOM / oneDNN error / no oneDNN). */
typedef struct {
    int prec, M, K;
    const void *src;
    const float *sx;
} kpack_in_t;
int kpack_in_prepare(kpack_in_t *in, const float *x, int M, int K, int prec);
int kpack_matmul_in(float *y, const kpack_in_t *in, kpack_t *P, bool accumulate);
size_t kpack_bytes(const kpack_t *P);     /* the packed weights (+ scales) */
const char *kpack_impl(const kpack_t *P); /* oneDNN's implementation name, e.g. "brg:avx512_core_bf16" */
/* Symmetric int8 of a row: returns scale = max|v|/127 (0 for an all-zero row), q[i] =
 * round-to-nearest-even(v[i]/scale) in [-127, 127]. */
float quant_row_s8(int8_t *q, const float *v, int n);
/* Plain references of the two modes (double sums; the int8 one with exact integer dots). */
void matmul_bf16in_ref(float *y, const float *x, const wtensor_t *W, int M, bool accumulate);
void matmul_int8_ref(float *y, const float *x, const wtensor_t *W, int M, bool accumulate);

/* ---- bf16 GEMM for training (gemm_bf16.c; train --precision bf16) ----
 * C[M][N] (+= if accumulate) op(A)·op(B) with A, B bf16 and fp32 accumulation, on oneDNN's
 * matmul (loaded on first use). A is [M][K] row-major, or [K][M] when ta (A read transposed);
 * B is [K][N], or [N][K] when tb; all dense. Returns 0, or -1 (oneDNN unavailable, OOM or a
 * oneDNN error: C undefined). Calls are serialised; oneDNN runs them on
 * gemm_bf16_set_threads() OpenMP threads (default 1). gemm_bf16_unavailable(): the reason in
 * one line ("" when available). gemm_bf16_impl(): oneDNN's implementation of the last call
 * (e.g. "brg:avx512_core_bf16"). gemm_bf16_ref: the plain reference (same bf16 inputs,
 * products summed in double). bf16_round_n: b[i] = f32_to_bf16(x[i]), vectorisable. */
bool gemm_bf16_available(void);
const char *gemm_bf16_unavailable(void);
void gemm_bf16_set_threads(int n);
const char *gemm_bf16_impl(void);
int gemm_bf16(float *C, const uint16_t *A, const uint16_t *B, int M, int N, int K, bool ta, bool tb,
              bool accumulate);
void gemm_bf16_ref(float *C, const uint16_t *A, const uint16_t *B, int M, int N, int K, bool ta, bool tb,
                   bool accumulate);
void bf16_round_n(uint16_t *b, const float *x, size_t n);
/* The batched, strided form (the attention products of train's bf16 mode): for every batch
 * index (i0, i1) < batch, C[i0,i1] (+)= A[i0,i1] · B[i0,i1], A M×K, B K×N, C M×N, where
 * element (i0, i1, r, c) of X lives at X + i0·sX[0] + i1·sX[1] + r·sX[2] + c·sX[3] (strides in
 * elements, so heads can be column slices of a token-major matrix, and transposes are strides).
 * gemm_bf16 is this with batch 1 x 1. Same return values. */
typedef struct {
    int64_t batch[2];
    int M, N, K;
    int64_t sa[4], sb[4], sc[4];
} gemm_bf16_shape_t;
int gemm_bf16_batched(float *C, const uint16_t *A, const uint16_t *B, const gemm_bf16_shape_t *g, bool accumulate);
/* The same with C written as bf16 (no accumulation): oneDNN rounds the fp32 sums to nearest
 * even (on AVX512-BF16, VCVTNEPS2BF16: an fp32 denormal sum becomes ±0). For products whose
 * only consumer is another bf16 GEMM (train's bf16 attention); gemm_bf16_batched_ref then
 * f32_to_bf16 is its reference. */
int gemm_bf16_batched_b16(uint16_t *C, const uint16_t *A, const uint16_t *B, const gemm_bf16_shape_t *g);
void gemm_bf16_batched_ref(float *C, const uint16_t *A, const uint16_t *B, const gemm_bf16_shape_t *g,
                           bool accumulate);

/* ---- threading ---- */
/* Number of worker threads used by kernels and OpenBLAS (default: online CPUs);
 * kern_set_threads also sets OpenBLAS's thread count. */
int kern_threads(void);
void kern_set_threads(int n);
/* Run fn(i, arg) for i in [0, n) over the kernel threads (static chunks). */
void kern_parallel_for(int n, void (*fn)(int i, void *arg), void *arg);

/* ---- per-thread working buffers (scratch.c) ---- */
typedef enum {
    KERN_SCRATCH_PANEL,  /* matmul_panels: f32 copy of a panel of weight rows */
    KERN_SCRATCH_SPLIT,  /* matmul_bf16 / matmul_amx: the activations split into bf16 hi/lo */
    KERN_SCRATCH_AMX,    /* matmul_amx: each worker's packed weight block + tile output */
    KERN_SCRATCH_QUANT,  /* matmul_q: int8 activations and each worker's unpacked weight row */
    KERN_SCRATCH_ATTN,   /* attention_flash: the key tile (transposed), scores, output rows */
    KERN_SCRATCH_FILTER, /* denoise's top-p / top-k filter: one logits row, sorted or selected */
    KERN_SCRATCH_N
} kern_scratch_slot_t;
/* A 64-byte aligned buffer of at least `bytes` for the calling thread's `slot`, kept between
 * calls (contents undefined); NULL on OOM. Valid until the next call for the same slot. */
void *kern_scratch(kern_scratch_slot_t slot, size_t bytes);

#endif
