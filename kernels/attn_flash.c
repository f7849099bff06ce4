/* attn_flash.c — fused (flash-style) bidirectional attention on the CPU: Lq query rows against L
 * keys with a key padding mask and grouped-query heads, computed tile by tile with an online
 * softmax (running max and sum per query, the output rescaled when the max grows), so no more
 * than a BR x BC tile of scores ever exists (attention.c keeps BR x L of them: 512 KB per
 * thread at L = 2048). Work items are (head, tile of BR query rows), spread over the kernel
 * threads; each thread's working memory is its KERN_SCRATCH_ATTN buffer.
 *
 * Run-time dispatch (attention_flash_isa): AVX-512 (avx512f), AVX2 + FMA, or the plain loop.
 * The vector bodies are one template (attn_flash_simd.h) included per ISA. The plain loop
 * (attention_flash_plain) is the reference beside them: one query row at a time, one key at a
 * time, the same online update in scalar fp32; it is also what runs when hd is not a
 * multiple of the vector width or the scratch cannot be had.
 *
 * Not bit-identical to attention(): the sums run in another order and the exps are
 * rescaled, so results differ in the last bits (tests/unit/test_kernels: within 2e-6
 * relative of the double reference). The model forward uses it where bit parity with the
 * exact sampler is not promised (model/forward.c: KV-cache steps, bf16/int8 precision). */
#include <math.h>
#include <string.h>
#include <immintrin.h>
#include "kernels.h"

#define BR 64 /* query rows per tile job */
#define BC 64 /* keys per tile */

static size_t ws_floats(int hd) {
    return (size_t)hd * BR + (size_t)BC * BR + (size_t)BR * hd + 3 * BR + 2 * (size_t)BC * hd;
}

/* ---- AVX-512 ---- */
#define TGT __attribute__((target("avx512f,fma")))
#define SFX(n) n##_512
#define VEC __m512
#define VW 16
#define KR 6
#define QCV 4
#define PR 4
#define vload _mm512_loadu_ps
#define vstore _mm512_storeu_ps
#define vset1 _mm512_set1_ps
#define vzero _mm512_setzero_ps
#define vadd _mm512_add_ps
#define vsub _mm512_sub_ps
#define vblend_ninf(x, y) _mm512_mask_blend_ps(_mm512_cmp_ps_mask((x), _mm512_set1_ps(-INFINITY), _CMP_EQ_OQ), (x), (y))
#define vmul _mm512_mul_ps
#define vmax _mm512_max_ps
#define vmin _mm512_min_ps
#define vfma _mm512_fmadd_ps
#define vfnma _mm512_fnmadd_ps
#define vround(x) _mm512_roundscale_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define vpow2n(p, n) _mm512_scalef_ps((p), (n))
#define vzero_below(x, lo, y) _mm512_mask_blend_ps(_mm512_cmp_ps_mask((x), (lo), _CMP_LT_OQ), (y), _mm512_setzero_ps())
#define vhmax _mm512_reduce_max_ps
#define vhsum _mm512_reduce_add_ps
#include "attn_flash_simd.h"
#undef TGT
#undef SFX
#undef VEC
#undef VW
#undef KR
#undef QCV
#undef PR
#undef vload
#undef vstore
#undef vset1
#undef vzero
#undef vadd
#undef vsub
#undef vblend_ninf
#undef vmul
#undef vmax
#undef vmin
#undef vfma
#undef vfnma
#undef vround
#undef vpow2n
#undef vzero_below
#undef vhmax
#undef vhsum

/* ---- AVX2 + FMA ---- */
#define TGT __attribute__((target("avx2,fma")))
#define SFX(n) n##_256
#define VEC __m256
#define VW 8
#define KR 4
#define QCV 2
#define PR 2
#define vload _mm256_loadu_ps
#define vstore _mm256_storeu_ps
#define vset1 _mm256_set1_ps
#define vzero _mm256_setzero_ps
#define vadd _mm256_add_ps
#define vsub _mm256_sub_ps
#define vblend_ninf(x, y) _mm256_blendv_ps((x), (y), _mm256_cmp_ps((x), _mm256_set1_ps(-INFINITY), _CMP_EQ_OQ))
#define vmul _mm256_mul_ps
#define vmax _mm256_max_ps
#define vmin _mm256_min_ps
#define vfma _mm256_fmadd_ps
#define vfnma _mm256_fnmadd_ps
#define vround(x) _mm256_round_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
/* p * 2^n for integral n in [-126, 127] (the clamped range): n + 127 into the exponent bits */
#define vpow2n(p, n) \
    _mm256_mul_ps((p), _mm256_castsi256_ps( \
                           _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23)))
#define vzero_below(x, lo, y) _mm256_andnot_ps(_mm256_cmp_ps((x), (lo), _CMP_LT_OQ), (y))
TGT static inline float hmax_256(__m256 x) {
    __m128 a = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    a = _mm_max_ps(a, _mm_movehl_ps(a, a));
    a = _mm_max_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
}
TGT static inline float hsum_256(__m256 x) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
}
#define vhmax hmax_256
#define vhsum hsum_256
#include "attn_flash_simd.h"

/* ---- plain ---- */
/* Query row qi (head offsets applied) against L keys: the online softmax, one key at a time. */
static void flash_row_plain(float *out, const float *qi, const float *k, const float *v, int ks, int L, int hd,
                            const uint8_t *keep, float scale) {
    float o[hd], m = -INFINITY, l = 0;
    memset(o, 0, sizeof o);
    for (int j = 0; j < L; j++) {
        if (keep && !keep[j]) continue;
        const float *kj = k + (size_t)j * ks, *vj = v + (size_t)j * ks;
        float s = 0;
        for (int d = 0; d < hd; d++) s += qi[d] * kj[d];
        s *= scale;
        float p;
        if (s > m) { /* a new max: rescale what is summed so far */
            float c = m == -INFINITY ? 0.0f : expf(m - s);
            l *= c;
            for (int d = 0; d < hd; d++) o[d] *= c;
            m = s;
            p = 1.0f;
        } else p = expf(s - m);
        l += p;
        for (int d = 0; d < hd; d++) o[d] += p * vj[d];
    }
    float inv = l > 0 ? 1.0f / l : 0.0f;
    for (int d = 0; d < hd; d++) out[d] = o[d] * inv;
}

int attention_flash_isa(void) {
    static int isa = -1;
    if (isa < 0) {
        __builtin_cpu_init();
        isa = __builtin_cpu_supports("avx512f")                                 ? ATT_ISA_AVX512
              : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? ATT_ISA_AVX2
                                                                                : ATT_ISA_PLAIN;
    }
    return isa;
}

typedef struct {
    float *out;
    const float *q, *k, *v;
    const uint8_t *keep;
    int Lq, L, Hq, Hkv, hd, isa, ntiles, nthreads;
    float scale;
} fjob_t;

static void tile_job(const fjob_t *j, int item) {
    int h = item / j->ntiles, r0 = (item % j->ntiles) * BR, m = j->Lq - r0 < BR ? j->Lq - r0 : BR;
    int qs = j->Hq * j->hd, ks = j->Hkv * j->hd, kh = h / (j->Hq / j->Hkv);
    float *out = j->out + (size_t)r0 * qs + (size_t)h * j->hd;
    const float *q = j->q + (size_t)r0 * qs + (size_t)h * j->hd, *k = j->k + (size_t)kh * j->hd,
                *v = j->v + (size_t)kh * j->hd;
    int isa = j->isa;
    if ((isa == ATT_ISA_AVX512 && j->hd % 16) || (isa == ATT_ISA_AVX2 && j->hd % 8)) isa = ATT_ISA_PLAIN;
    float *ws = isa == ATT_ISA_PLAIN ? NULL : kern_scratch(KERN_SCRATCH_ATTN, ws_floats(j->hd) * sizeof(float));
    if (isa == ATT_ISA_AVX512 && ws) flash_tile_512(out, q, m, qs, k, v, ks, j->L, j->hd, j->keep, j->scale, ws);
    else if (isa == ATT_ISA_AVX2 && ws) flash_tile_256(out, q, m, qs, k, v, ks, j->L, j->hd, j->keep, j->scale, ws);
    else
        for (int r = 0; r < m; r++)
            flash_row_plain(out + (size_t)r * qs, q + (size_t)r * qs, k, v, ks, j->L, j->hd, j->keep, j->scale);
}

static void flash_worker(int t, void *arg) {
    const fjob_t *j = arg;
    for (int i = t; i < j->Hq * j->ntiles; i += j->nthreads) tile_job(j, i);
}

void attention_flash_with(int isa, float *out, const float *q, int Lq, const float *k, const float *v, int L, int Hq,
                          int Hkv, int hd, const uint8_t *keep) {
    KERN_ASSERT(L >= 0 && Lq >= 0 && hd > 0 && hd <= 4096 && Hq > 0 && Hkv > 0 && Hq % Hkv == 0);
    KERN_ASSERT(out && q && k && v);
    KERN_ASSERT(isa >= ATT_ISA_PLAIN && isa <= attention_flash_isa());
    fjob_t j = {out, q, k, v, keep, Lq, L, Hq, Hkv, hd, isa, (Lq + BR - 1) / BR, 1, 1.0f / sqrtf((float)hd)};
    int items = Hq * j.ntiles;
    if (items == 0) return;
    j.nthreads = kern_threads() < items ? kern_threads() : items;
    if (j.nthreads <= 1) flash_worker(0, &j);
    else kern_parallel_for(j.nthreads, flash_worker, &j);
}

void attention_flash(float *out, const float *q, int Lq, const float *k, const float *v, int L, int Hq, int Hkv, int hd,
                     const uint8_t *keep) {
    attention_flash_with(attention_flash_isa(), out, q, Lq, k, v, L, Hq, Hkv, hd, keep);
}
