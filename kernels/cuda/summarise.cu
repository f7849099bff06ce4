/* summarise.cu — sampling summaries on the GPU (see summarise.cuh; the per-element, merge and
 * finish arithmetic is summarise_row.h), plus the two small helpers of the LM-head stage
 * (row gather, CFG combine). One block of 512 threads per row: pass 1 strided over the row,
 * tree merge in shared memory; pass 2 strided, warp-shuffle sums, then 16 warp totals added
 * by thread 0. Float arithmetic the CPU does uses round-to-nearest intrinsics (no FMAs). */
#include "summarise.cuh"

enum { STH = 512 };

__device__ __forceinline__ double warp_sum_rn(double v) {
    for (int o = 16; o > 0; o >>= 1) v = __dadd_rn(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__global__ void __launch_bounds__(STH)
    summarise_kernel(rm_cand_t *out, const float *logits, int V, int ld, const uint64_t *prefix, cu_summ_opts_t o) {
    __shared__ summ_p1_t sh[STH];
    __shared__ summ_p2_t sh2[STH / 32];
    const float *l = logits + (size_t)blockIdx.x * ld;
    bool has_eot = summ_has_eot(&o, V);
    uint64_t pre = prefix ? prefix[blockIdx.x] : 0;
    summ_p1_t a = summ_p1_init();
    for (int i = threadIdx.x; i < V; i += STH) summ_p1_add(&a, l, i, pre, &o, has_eot);
    sh[threadIdx.x] = a;
    __syncthreads();
    for (int s = STH / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) summ_p1_merge(&sh[threadIdx.x], &sh[threadIdx.x + s]);
        __syncthreads();
    }
    a = sh[0];
    summ_p2_t p = {0, 0, 0};
    for (int i = threadIdx.x; i < V; i += STH) summ_p2_add(&p, l, i, a.mx, a.mx2, &o, has_eot);
    p.s = warp_sum_rn(p.s);
    p.sl = warp_sum_rn(p.sl);
    p.s2 = warp_sum_rn(p.s2);
    if ((threadIdx.x & 31) == 0) sh2[threadIdx.x >> 5] = p;
    __syncthreads();
    if (threadIdx.x) return;
    summ_p2_t t = {0, 0, 0};
    for (int w = 0; w < STH / 32; w++) {
        t.s = __dadd_rn(t.s, sh2[w].s);
        t.sl = __dadd_rn(t.sl, sh2[w].sl);
        t.s2 = __dadd_rn(t.s2, sh2[w].s2);
    }
    summ_finish(&a, &t, l, &o, has_eot, out + blockIdx.x);
}

int cu_summarise(rm_cand_t *out, const float *logits, int n, int V, int ld, const uint64_t *prefix,
                 const cu_summ_opts_t *o, cudaStream_t st) {
    CU_REQUIRE(out && logits && o && n >= 0 && V > 0 && ld >= V);
    CU_REQUIRE(o->eos >= 0 && o->eos < V && o->temperature >= 0);
    CU_REQUIRE(o->temperature == 0 || prefix);
    if (n == 0) return 0;
    summarise_kernel<<<n, STH, 0, st>>>(out, logits, V, ld, prefix, *o);
    CU_LAUNCHED();
    return 0;
}

template <typename T> __global__ void gather_kernel(T *dst, const T *src, const int32_t *rows, int d) {
    const T *s = src + (size_t)rows[blockIdx.x] * d;
    T *o = dst + (size_t)blockIdx.x * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) o[i] = s[i];
}

int cu_gather_rows(void *dst, const void *src, cu_dtype_t t, const int32_t *rows, int n, int d, cudaStream_t st) {
    CU_REQUIRE(dst && src && rows && n >= 0 && d > 0);
    if (n == 0) return 0;
    if (t == CU_BF16) gather_kernel<<<n, 256, 0, st>>>((__nv_bfloat16 *)dst, (const __nv_bfloat16 *)src, rows, d);
    else gather_kernel<<<n, 256, 0, st>>>((float *)dst, (const float *)src, rows, d);
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
