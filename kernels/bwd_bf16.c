/* bwd_bf16.c — the fused ops of train's bf16 step (train/step.c, --precision bf16): where an
 * op's output is read only by a bf16 GEMM, the op writes it rounded to bf16 directly instead
 * of an fp32 buffer that a second pass rounds (RMSNorm forward, RoPE, SwiGLU forward and
 * backward, the attention softmax and its backward, the cross-entropy's gradient); RMSNorm's
 * backward also writes the rounded copy of the residual gradient it updates. Each has an
 * AVX-512 body selected at run time (__builtin_cpu_supports) and a plain loop otherwise, and
 * a plain reference (*_ref: the fp32 op of bwd_ops.h / step.c, then f32_to_bf16) that
 * tests/unit/test_train_bf16.c compares it with. They differ from their references only in
 * summation order (RMSNorm's sums in double lanes, the softmax sums in fp32 lanes) and in
 * the vector exp (vmath.c's, within 2 ulp of expf), so the bf16 outputs agree to a bf16 ulp;
 * the rounding itself gives f32_to_bf16's bits (simd512.h; VCVTNEPS2BF16 on AVX512-BF16). */
#include <math.h>
#include <string.h>
#include <immintrin.h>
#include "bwd_ops.h"
#include "kernels.h"
#include "simd512.h"

/* avx512bf16 is only used (VCVTNEPS2BF16) where hw != 0, which isa() allows only on CPUs with it */
#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* 0: plain loops; 1: AVX-512 (F, BW, VL); 2: that and AVX512-BF16 */
static int cpu_isa(void) {
    static int h = -1;
    if (h < 0) {
        __builtin_cpu_init();
        h = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl");
        if (h && __builtin_cpu_supports("avx512bf16")) h = 2;
    }
    return h;
}
static int isa_cap = 2;
static int isa(void) { return cpu_isa() < isa_cap ? cpu_isa() : isa_cap; }

int tr_bf16_set_isa(int level) {
    int prev = isa();
    isa_cap = level < 0 ? 0 : level;
    return prev;
}
static int have512(void) { return isa() > 0; }

static __mmask16 tailmask(int left) { return (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1); }

/* 16 floats to bf16, f32_to_bf16's bits: with hw, by VCVTNEPS2BF16 (simd512.h). */
TGT static inline __m256i rnd16(__m512 x, int hw) { return hw ? bf16_round16_hw(x) : bf16_round16(x); }

TGT static inline void st_b16(uint16_t *p, __mmask16 k, __m512 x, int hw) {
    __m256i v = rnd16(x, hw);
    if (k == 0xffff) _mm256_storeu_si256((__m256i *)p, v);
    else _mm256_mask_storeu_epi16(p, k, v);
}

/* Σ x² of 16 lanes, in double. */
TGT static inline __m512d sq_pd(__m512d acc, __m512 x) {
    __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
    __m512d hi = _mm512_cvtps_pd(_mm256_castsi256_ps(_mm512_extracti64x4_epi64(_mm512_castps_si512(x), 1)));
    return _mm512_fmadd_pd(hi, hi, _mm512_fmadd_pd(lo, lo, acc));
}
/* Σ x of 16 lanes, in double. */
TGT static inline __m512d sum_pd(__m512d acc, __m512 x) {
    __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
    __m512d hi = _mm512_cvtps_pd(_mm256_castsi256_ps(_mm512_extracti64x4_epi64(_mm512_castps_si512(x), 1)));
    return _mm512_add_pd(acc, _mm512_add_pd(lo, hi));
}

void bf16_round_rows(uint16_t *b, int ldb, const float *x, int ldx, int rows, int cols) {
    for (int r = 0; r < rows; r++) bf16_round_n(b + (size_t)r * ldb, x + (size_t)r * ldx, (size_t)cols);
}

/* ---- RMSNorm ---- */

TGT static void rms_fwd_512(const float *x, const float *res, float *xo, const float *w, uint16_t *yb, float *rinv,
                            int N, int D, float eps, int hw) {
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * D;
        uint16_t *yr = yb + (size_t)n * D;
        __m512d ss = _mm512_setzero_pd();
        if (res) { /* xo = x + res, normalised */
            const float *rr = res + (size_t)n * D;
            float *orow = xo + (size_t)n * D;
            for (int i = 0; i < D; i += 16) {
                __mmask16 k = tailmask(D - i);
                __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(k, xr + i), _mm512_maskz_loadu_ps(k, rr + i));
                _mm512_mask_storeu_ps(orow + i, k, v);
                ss = sq_pd(ss, v);
            }
            xr = orow;
        } else
            for (int i = 0; i < D; i += 16) ss = sq_pd(ss, _mm512_maskz_loadu_ps(tailmask(D - i), xr + i));
        float r = (float)(1.0 / sqrt(_mm512_reduce_add_pd(ss) / D + eps));
        rinv[n] = r;
        __m512 rv = _mm512_set1_ps(r);
        for (int i = 0; i < D; i += 16) {
            __mmask16 k = tailmask(D - i);
            st_b16(yr + i, k,
                   _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, xr + i), rv), _mm512_maskz_loadu_ps(k, w + i)), hw);
        }
    }
}

void tr_rmsnorm_fwd_bf16(const float *x, const float *res, float *xo, const float *w, uint16_t *yb, float *rinv, int N,
                         int D, float eps) {
    KERN_ASSERT(N >= 0 && D > 0 && eps >= 0 && rinv && (!res || xo));
    if (have512()) {
        rms_fwd_512(x, res, xo, w, yb, rinv, N, D, eps, isa() == 2);
        return;
    }
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * D;
        if (res) {
            for (int i = 0; i < D; i++) xo[(size_t)n * D + i] = xr[i] + res[(size_t)n * D + i];
            xr = xo + (size_t)n * D;
        }
        double ss = 0;
        for (int i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
        float r = (float)(1.0 / sqrt(ss / D + eps));
        rinv[n] = r;
        for (int i = 0; i < D; i++) yb[(size_t)n * D + i] = f32_to_bf16(xr[i] * r * w[i]);
    }
}

void tr_rmsnorm_fwd_bf16_ref(const float *x, const float *res, float *xo, const float *w, uint16_t *yb, float *rinv,
                             int N, int D, float eps) {
    float y[D > 0 ? D : 1];
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * D;
        if (res) {
            for (int i = 0; i < D; i++) xo[(size_t)n * D + i] = xr[i] + res[(size_t)n * D + i];
            xr = xo + (size_t)n * D;
        }
        tr_rmsnorm_fwd(xr, w, y, rinv + n, 1, D, eps);
        bf16_round_n(yb + (size_t)n * D, y, (size_t)D);
    }
}

/* dx_i += r w_i dy_i − x_i r³/D Σ_j dy_j w_j x_j (then dxb = dx rounded); dw_i += Σ_n dy_i x_i r. */
TGT static void rms_bwd_512(const float *dy, const float *x, const float *w, const float *rinv, float *dx,
                            uint16_t *dxb, float *dw, int N, int D, int hw) {
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * D, *dyr = dy + (size_t)n * D;
        float r = rinv[n];
        __m512d dot = _mm512_setzero_pd();
        for (int i = 0; i < D; i += 16) {
            __mmask16 k = tailmask(D - i);
            __m512 p = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, dyr + i), _mm512_maskz_loadu_ps(k, w + i)),
                                     _mm512_maskz_loadu_ps(k, xr + i));
            dot = sum_pd(dot, p);
        }
        __m512 rv = _mm512_set1_ps(r), cv = _mm512_set1_ps((float)(_mm512_reduce_add_pd(dot) * r * r * r / D));
        for (int i = 0; i < D; i += 16) {
            __mmask16 k = tailmask(D - i);
            __m512 dyv = _mm512_maskz_loadu_ps(k, dyr + i), xv = _mm512_maskz_loadu_ps(k, xr + i);
            if (dx) {
                float *dxr = dx + (size_t)n * D + i;
                __m512 t = _mm512_sub_ps(_mm512_mul_ps(_mm512_mul_ps(rv, _mm512_maskz_loadu_ps(k, w + i)), dyv),
                                         _mm512_mul_ps(xv, cv));
                __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(k, dxr), t);
                _mm512_mask_storeu_ps(dxr, k, v);
                if (dxb) st_b16(dxb + (size_t)n * D + i, k, v, hw);
            }
            if (dw)
                _mm512_mask_storeu_ps(dw + i, k,
                                      _mm512_add_ps(_mm512_maskz_loadu_ps(k, dw + i), _mm512_mul_ps(_mm512_mul_ps(dyv, xv), rv)));
        }
    }
}

void tr_rmsnorm_bwd_bf16(const float *dy, const float *x, const float *w, const float *rinv, float *dx, uint16_t *dxb,
                         float *dw, int N, int D) {
    KERN_ASSERT(N >= 0 && D > 0 && rinv && (dx || !dxb));
    if (have512()) {
        rms_bwd_512(dy, x, w, rinv, dx, dxb, dw, N, D, isa() == 2);
        return;
    }
    tr_rmsnorm_bwd_bf16_ref(dy, x, w, rinv, dx, dxb, dw, N, D);
}

void tr_rmsnorm_bwd_bf16_ref(const float *dy, const float *x, const float *w, const float *rinv, float *dx,
                             uint16_t *dxb, float *dw, int N, int D) {
    tr_rmsnorm_bwd(dy, x, w, rinv, dx, dw, N, D);
    if (dxb) bf16_round_n(dxb, dx, (size_t)N * D);
}

/* ---- RoPE: rotate fp32 rows (stride ldx) into bf16 rows (stride ldb) ---- */

TGT static void rope_512(const float *x, int ldx, uint16_t *xb, int ldb, const float *cs, int N, int T, int nh,
                         int hd, float sgn, int hw) {
    int h2 = hd / 2;
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 sg = _mm512_set1_ps(sgn);
    for (int n = 0; n < N; n++) {
        const float *c = cs + (size_t)(n % T) * h2 * 2, *xr = x + (size_t)n * ldx;
        uint16_t *br = xb + (size_t)n * ldb;
        for (int i = 0; i < h2; i += 16) {
            __m512 c0 = _mm512_loadu_ps(c + 2 * i), c1 = _mm512_loadu_ps(c + 2 * i + 16);
            __m512 co = _mm512_permutex2var_ps(c0, ev, c1), si = _mm512_mul_ps(sg, _mm512_permutex2var_ps(c0, od, c1));
            for (int h = 0; h < nh; h++) {
                const float *v = xr + (size_t)h * hd + i;
                __m512 a = _mm512_loadu_ps(v), b = _mm512_loadu_ps(v + h2);
                uint16_t *o = br + (size_t)h * hd + i;
                _mm256_storeu_si256((__m256i *)o, rnd16(_mm512_sub_ps(_mm512_mul_ps(a, co), _mm512_mul_ps(b, si)), hw));
                _mm256_storeu_si256((__m256i *)(o + h2),
                                    rnd16(_mm512_add_ps(_mm512_mul_ps(b, co), _mm512_mul_ps(a, si)), hw));
            }
        }
    }
}

static void rope_plain(const float *x, int ldx, uint16_t *xb, int ldb, const float *cs, int N, int T, int nh, int hd,
                       float sgn) {
    int h2 = hd / 2;
    for (int n = 0; n < N; n++) {
        const float *c = cs + (size_t)(n % T) * h2 * 2;
        for (int h = 0; h < nh; h++) {
            const float *v = x + (size_t)n * ldx + (size_t)h * hd;
            uint16_t *o = xb + (size_t)n * ldb + (size_t)h * hd;
            for (int i = 0; i < h2; i++) {
                float co = c[2 * i], si = sgn * c[2 * i + 1], a = v[i], b = v[i + h2];
                o[i] = f32_to_bf16(a * co - b * si);
                o[i + h2] = f32_to_bf16(b * co + a * si);
            }
        }
    }
}

void tr_rope_bf16(const float *x, int ldx, uint16_t *xb, int ldb, const float *cs, int N, int T, int nh, int hd,
                  int inverse) {
    KERN_ASSERT(N >= 0 && T > 0 && nh > 0 && hd > 0 && hd % 2 == 0 && ldx >= nh * hd && ldb >= nh * hd);
    if (have512() && (hd / 2) % 16 == 0) rope_512(x, ldx, xb, ldb, cs, N, T, nh, hd, inverse ? -1.0f : 1.0f, isa() == 2);
    else rope_plain(x, ldx, xb, ldb, cs, N, T, nh, hd, inverse ? -1.0f : 1.0f);
}

void tr_rope_bf16_ref(const float *x, int ldx, uint16_t *xb, int ldb, const float *cs, int N, int T, int nh, int hd,
                      int inverse) {
    float row[nh * hd > 0 ? nh * hd : 1];
    for (int n = 0; n < N; n++) {
        memcpy(row, x + (size_t)n * ldx, sizeof(float) * nh * hd);
        /* one token at position n % T: a 1-token table slice */
        const float *c = cs + (size_t)(n % T) * hd;
        if (inverse) tr_rope_bwd(row, c, 1, 1, nh, hd);
        else tr_rope_fwd(row, c, 1, 1, nh, hd);
        bf16_round_n(xb + (size_t)n * ldb, row, (size_t)nh * hd);
    }
}

/* ---- SwiGLU: g and u rows of stride ld (both halves of one [N][2F] GEMM output) ---- */

TGT static void swiglu_fwd_512(const float *g, const float *u, int ld, uint16_t *ab, int N, int F, int hw) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int n = 0; n < N; n++) {
        const float *gr = g + (size_t)n * ld, *ur = u + (size_t)n * ld;
        for (int i = 0; i < F; i += 16) {
            __mmask16 k = tailmask(F - i);
            __m512 gv = _mm512_maskz_loadu_ps(k, gr + i);
            __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), gv));
            st_b16(ab + (size_t)n * F + i, k, _mm512_mul_ps(_mm512_div_ps(gv, _mm512_add_ps(one, e)), _mm512_maskz_loadu_ps(k, ur + i)), hw);
        }
    }
}

void tr_swiglu_fwd_bf16(const float *g, const float *u, int ld, uint16_t *ab, int N, int F) {
    KERN_ASSERT(N >= 0 && F > 0 && ld >= F);
    if (have512()) {
        swiglu_fwd_512(g, u, ld, ab, N, F, isa() == 2);
        return;
    }
    for (int n = 0; n < N; n++)
        for (int i = 0; i < F; i++) {
            float gi = g[(size_t)n * ld + i];
            ab[(size_t)n * F + i] = f32_to_bf16(gi / (1.0f + expf(-gi)) * u[(size_t)n * ld + i]);
        }
}

void tr_swiglu_fwd_bf16_ref(const float *g, const float *u, int ld, uint16_t *ab, int N, int F) {
    float a[F > 0 ? F : 1];
    for (int n = 0; n < N; n++) {
        tr_swiglu_fwd(g + (size_t)n * ld, u + (size_t)n * ld, a, (size_t)F);
        bf16_round_n(ab + (size_t)n * F, a, (size_t)F);
    }
}

/* dg = da u σ(g)(1 + g(1 − σ(g))), du = da g σ(g), written (not added) as bf16 rows of stride ldo. */
TGT static void swiglu_bwd_512(const float *da, const float *g, const float *u, int ld, uint16_t *dgb, uint16_t *dub,
                               int ldo, int N, int F, int hw) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int n = 0; n < N; n++) {
        const float *gr = g + (size_t)n * ld, *ur = u + (size_t)n * ld, *dr = da + (size_t)n * F;
        for (int i = 0; i < F; i += 16) {
            __mmask16 k = tailmask(F - i);
            __m512 gv = _mm512_maskz_loadu_ps(k, gr + i), dv = _mm512_maskz_loadu_ps(k, dr + i);
            __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), gv))));
            st_b16(dub + (size_t)n * ldo + i, k, _mm512_mul_ps(_mm512_mul_ps(dv, gv), s), hw);
            __m512 t = _mm512_fmadd_ps(gv, _mm512_sub_ps(one, s), one);
            st_b16(dgb + (size_t)n * ldo + i, k,
                   _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dv, _mm512_maskz_loadu_ps(k, ur + i)), s), t), hw);
        }
    }
}

void tr_swiglu_bwd_bf16(const float *da, const float *g, const float *u, int ld, uint16_t *dgb, uint16_t *dub, int ldo,
                        int N, int F) {
    KERN_ASSERT(N >= 0 && F > 0 && ld >= F && ldo >= F);
    if (have512()) {
        swiglu_bwd_512(da, g, u, ld, dgb, dub, ldo, N, F, isa() == 2);
        return;
    }
    for (int n = 0; n < N; n++)
        for (int i = 0; i < F; i++) {
            float gi = g[(size_t)n * ld + i], d = da[(size_t)n * F + i], s = 1.0f / (1.0f + expf(-gi));
            dub[(size_t)n * ldo + i] = f32_to_bf16(d * gi * s);
            dgb[(size_t)n * ldo + i] = f32_to_bf16(d * u[(size_t)n * ld + i] * s * (1.0f + gi * (1.0f - s)));
        }
}

void tr_swiglu_bwd_bf16_ref(const float *da, const float *g, const float *u, int ld, uint16_t *dgb, uint16_t *dub,
                            int ldo, int N, int F) {
    float dg[F > 0 ? F : 1], du[F > 0 ? F : 1];
    for (int n = 0; n < N; n++) {
        memset(dg, 0, sizeof dg);
        memset(du, 0, sizeof du);
        tr_swiglu_bwd(da + (size_t)n * F, g + (size_t)n * ld, u + (size_t)n * ld, dg, du, (size_t)F);
        bf16_round_n(dgb + (size_t)n * ldo, dg, (size_t)F);
        bf16_round_n(dub + (size_t)n * ldo, du, (size_t)F);
    }
}

/* ---- attention softmax rows (scores → probabilities, P kept in fp32 for the backward) ---- */

TGT static void softmax_512(float *p, uint16_t *pb, int n, int nk, float scale, int hw) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < nk; i += 16) {
        __mmask16 k = tailmask(nk - i);
        m = _mm512_mask_max_ps(m, k, m, _mm512_maskz_loadu_ps(k, p + i));
    }
    __m512 sc = _mm512_set1_ps(scale), mx = _mm512_set1_ps(_mm512_reduce_max_ps(m) * scale), s = _mm512_setzero_ps();
    for (int i = 0; i < nk; i += 16) {
        __mmask16 k = tailmask(nk - i);
        __m512 e = _mm512_maskz_mov_ps(k, exp512(_mm512_sub_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, p + i), sc), mx)));
        _mm512_mask_storeu_ps(p + i, k, e);
        s = _mm512_add_ps(s, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(s));
    for (int i = 0; i < n; i += 16) { /* keys from nk on: 0 */
        __mmask16 k = tailmask(n - i), kk = tailmask(nk - i > 0 ? nk - i : 0);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(kk, p + i), inv);
        _mm512_mask_storeu_ps(p + i, k, v);
        st_b16(pb + i, k, v, hw);
    }
}

void tr_softmax_row_bf16(float *p, uint16_t *pb, int n, int nk, float scale) {
    KERN_ASSERT(n >= 0 && nk >= 1 && nk <= n && scale > 0);
    if (have512()) {
        softmax_512(p, pb, n, nk, scale, isa() == 2);
        return;
    }
    tr_softmax_row_bf16_ref(p, pb, n, nk, scale);
}

void tr_softmax_row_bf16_ref(float *p, uint16_t *pb, int n, int nk, float scale) {
    float mx = -INFINITY, s = 0;
    for (int c = 0; c < nk; c++) p[c] *= scale, mx = p[c] > mx ? p[c] : mx;
    for (int c = 0; c < nk; c++) s += (p[c] = expf(p[c] - mx));
    float inv = 1.0f / s;
    for (int c = 0; c < nk; c++) p[c] *= inv;
    for (int c = nk; c < n; c++) p[c] = 0.0f;
    bf16_round_n(pb, p, (size_t)n);
}

/* dS = scale·P⊙(dP − Σ P⊙dP), rounded */
TGT static void softmax_bwd_512(const float *p, const float *dp, uint16_t *dsb, int n, float scale, int hw) {
    __m512 rs = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = tailmask(n - i);
        rs = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, p + i), _mm512_maskz_loadu_ps(k, dp + i), rs);
    }
    __m512 r = _mm512_set1_ps(_mm512_reduce_add_ps(rs)), sc = _mm512_set1_ps(scale);
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = tailmask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_mul_ps(sc, _mm512_maskz_loadu_ps(k, p + i)),
                                 _mm512_sub_ps(_mm512_maskz_loadu_ps(k, dp + i), r));
        st_b16(dsb + i, k, v, hw);
    }
}

void tr_softmax_bwd_row_bf16(const float *p, const float *dp, uint16_t *dsb, int n, float scale) {
    KERN_ASSERT(n >= 0);
    if (have512()) {
        softmax_bwd_512(p, dp, dsb, n, scale, isa() == 2);
        return;
    }
    tr_softmax_bwd_row_bf16_ref(p, dp, dsb, n, scale);
}

void tr_softmax_bwd_row_bf16_ref(const float *p, const float *dp, uint16_t *dsb, int n, float scale) {
    float rs = 0;
    for (int c = 0; c < n; c++) rs += p[c] * dp[c];
    for (int c = 0; c < n; c++) dsb[c] = f32_to_bf16(scale * p[c] * (dp[c] - rs));
}

/* ---- weighted cross-entropy with the gradient written as bf16 ---- */

TGT static void scale_round_512(uint16_t *b, const float *z, float k, int n, int hw) {
    __m512 kv = _mm512_set1_ps(k);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tailmask(n - i);
        st_b16(b + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, z + i), kv), hw);
    }
}

double tr_xent_fwd_bwd_bf16(float *logits, const int32_t *y, const float *w, int N, int V, float *ce_out,
                            uint16_t *gb) {
    KERN_ASSERT(N >= 0 && V > 0);
    for (int n = 0; n < N; n++) KERN_ASSERT(w[n] == 0.0f || (y[n] >= 0 && y[n] < V));
    double total = 0;
    for (int n = 0; n < N; n++) {
        float *z = logits + (size_t)n * V;
        uint16_t *g = gb + (size_t)n * V;
        if (w[n] == 0.0f) {
            memset(g, 0, sizeof(uint16_t) * V);
            if (ce_out) ce_out[n] = 0.0f;
            continue;
        }
        double ce;
        float k = tr_xent_row_exp(z, V, y[n], w[n], &ce);
        total += w[n] * ce;
        if (ce_out) ce_out[n] = (float)ce;
        if (have512()) scale_round_512(g, z, k, V, isa() == 2);
        else
            for (int i = 0; i < V; i++) g[i] = f32_to_bf16(z[i] * k);
        g[y[n]] = f32_to_bf16(z[y[n]] * k - w[n]);
    }
    return total;
}

double tr_xent_fwd_bwd_bf16_ref(float *logits, const int32_t *y, const float *w, int N, int V, float *ce_out,
                                uint16_t *gb) {
    double L = tr_xent_fwd_bwd(logits, y, w, N, V, ce_out);
    bf16_round_n(gb, logits, (size_t)N * V);
    return L;
}
