/* summarise.cu — sampling summaries on the GPU (see summarise.cuh), plus the two small
 * helpers of the LM-head stage (row gather, CFG combine). Arithmetic that the CPU does in
 * float64 uses explicit round-to-nearest intrinsics so nvcc cannot contract it into FMAs
 * that the CPU (x86-64-v2, no FMA) does not do. */
#include "summarise.cuh"
#include "crng.h"

enum { STH = 512 };

typedef struct {
    double g;          /* pick value (Gumbel-perturbed in double, or the float logit) */
    int idx;
    float mx, t1, t2;  /* max, top-2 (multiset) of the EOS-modified logits */
    float mx2;         /* max without the quirk's EOT/EOS columns */
} pass1_t;

__device__ __forceinline__ void p1_merge(pass1_t *a, const pass1_t *b) {
    if (b->g > a->g || (b->g == a->g && b->idx < a->idx)) { a->g = b->g; a->idx = b->idx; }
    float n1 = fmaxf(a->t1, b->t1), n2 = a->t1 >= b->t1 ? fmaxf(a->t2, b->t1) : fmaxf(a->t1, b->t2);
    a->t1 = n1; a->t2 = n2;
    a->mx = fmaxf(a->mx, b->mx);
    a->mx2 = fmaxf(a->mx2, b->mx2);
}

struct row_view {
    const float *l;
    cu_summ_opts_t o;
    bool has_eot;
    __device__ float val(int i) const {       /* logits after logits_eos_inf */
        if (o.logits_eos_inf && (i == o.eos || (o.fixed_eos && has_eot && i == o.eot))) return -INFINITY;
        return l[i];
    }
    __device__ bool quirk_excl(int i) const { /* columns the official quirk drops from conf */
        return (has_eot && i == o.eot) || (o.temperature == 0 && i == o.eos);
    }
};

__device__ void pass1(const row_view &r, int V, uint64_t prefix, pass1_t *sh) {
    pass1_t a = {-INFINITY, 0x7fffffff, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    for (int i = threadIdx.x; i < V; i += STH) {
        float v = r.val(i);
        double g = v;
        if (r.o.temperature > 0) {
            double u = crng_u01_from(prefix, (uint64_t)i);
            g = __dsub_rn((double)v, __dmul_rn(r.o.temperature, log(-log(u))));
        }
        if (g > a.g) { a.g = g; a.idx = i; }
        if (v > a.t1) { a.t2 = a.t1; a.t1 = v; } else if (v > a.t2) a.t2 = v;
        a.mx = fmaxf(a.mx, v);
        if (!r.quirk_excl(i)) a.mx2 = fmaxf(a.mx2, v);
    }
    sh[threadIdx.x] = a;
    __syncthreads();
    for (int s = STH / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) p1_merge(&sh[threadIdx.x], &sh[threadIdx.x + s]);
        __syncthreads();
    }
}

__global__ void __launch_bounds__(STH) summarise_kernel(rm_cand_t *out, const float *logits, int V,
        int ld, const uint64_t *prefix, cu_summ_opts_t o) {
    __shared__ pass1_t sh[STH];
    __shared__ double shd[32];
    row_view r = {logits + (size_t)blockIdx.x * ld, o, o.eot >= 0 && o.eot < V};
    pass1(r, V, prefix ? prefix[blockIdx.x] : 0, sh);
    pass1_t a = sh[0];
    double mx = a.mx, mx2 = a.mx2, s = 0, sl = 0, s2 = 0;
    for (int i = threadIdx.x; i < V; i += STH) {
        float v = r.val(i);
        if (v == -INFINITY) continue;
        double z = __dsub_rn((double)v, mx), ez = exp(z);
        s = __dadd_rn(s, ez);
        sl = __dadd_rn(sl, __dmul_rn(ez, z));
        if (!r.quirk_excl(i)) s2 = __dadd_rn(s2, exp(__dsub_rn((double)v, mx2)));
    }
    s = block_sum(s, shd);
    sl = block_sum(sl, shd);
    s2 = block_sum(s2, shd);
    if (threadIdx.x) return;
    int best = a.g == -INFINITY ? 0 : a.idx;
    float vb = r.val(best);
    double p = 0, margin = 0, ent = 0;
    if (mx != -INFINITY) {
        p = vb == -INFINITY ? 0.0 : exp(__dsub_rn((double)vb, mx)) / s;
        margin = (exp(__dsub_rn((double)a.t1, mx)) - (a.t2 == -INFINITY ? 0 : exp(__dsub_rn((double)a.t2, mx)))) / s;
        ent = log(s) - sl / s;
    }
    rm_cand_t *c = out + blockIdx.x;
    c->token = best;
    c->prob = (float)p;
    c->margin = (float)margin;
    c->entropy = (float)ent;
    c->conf = p;
    if (!o.conf_eos_eot_inf) return;
    if (o.fixed_eos) {
        if (best == o.eos || (r.has_eot && best == o.eot)) c->conf = -INFINITY;
        return;
    }
    c->conf = (mx2 == -INFINITY || vb == -INFINITY || r.quirk_excl(best)) ? 0.0
            : exp(__dsub_rn((double)vb, mx2)) / s2;
}

int cu_summarise(rm_cand_t *out, const float *logits, int n, int V, int ld,
                 const uint64_t *prefix, const cu_summ_opts_t *o, cudaStream_t st) {
    CU_REQUIRE(out && logits && o && n >= 0 && V > 0 && ld >= V);
    CU_REQUIRE(o->eos >= 0 && o->eos < V && o->temperature >= 0);
    CU_REQUIRE(o->temperature == 0 || prefix);
    if (n == 0) return 0;
    summarise_kernel<<<n, STH, 0, st>>>(out, logits, V, ld, prefix, *o);
    CU_LAUNCHED();
    return 0;
}

template <typename T>
__global__ void gather_kernel(T *dst, const T *src, const int32_t *rows, int d) {
    const T *s = src + (size_t)rows[blockIdx.x] * d;
    T *o = dst + (size_t)blockIdx.x * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) o[i] = s[i];
}

int cu_gather_rows(void *dst, const void *src, cu_dtype_t t, const int32_t *rows, int n, int d,
                   cudaStream_t st) {
    CU_REQUIRE(dst && src && rows && n >= 0 && d > 0);
    if (n == 0) return 0;
    if (t == CU_BF16)
        gather_kernel<<<n, 256, 0, st>>>((__nv_bfloat16 *)dst, (const __nv_bfloat16 *)src, rows, d);
    else
        gather_kernel<<<n, 256, 0, st>>>((float *)dst, (const float *)src, rows, d);
    CU_LAUNCHED();
    return 0;
}

__global__ void cfg_kernel(float *lc, const float *lu, float s1, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        lc[i] = __fadd_rn(lu[i], __fmul_rn(s1, __fsub_rn(lc[i], lu[i])));
}

int cu_cfg_combine(float *lc, const float *lu, float s1, size_t n, cudaStream_t st) {
    CU_REQUIRE(lc && lu);
    if (n == 0) return 0;
    int bl = (int)(n / 256 + 1 < 65536 ? n / 256 + 1 : 65536);
    cfg_kernel<<<bl, 256, 0, st>>>(lc, lu, s1, n);
    CU_LAUNCHED();
    return 0;
}
